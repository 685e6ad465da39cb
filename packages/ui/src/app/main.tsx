import { render } from 'preact';
import { loadSession } from './api.js';
import { App } from './app.js';
import { interceptLinks } from './router.js';
import { startTheme } from './theme.js';
import { startLayoutWorker } from './topology.js';

startTheme();
// Signed in: the topology's layout worker loads beside the first page, ready for a deployment's.
if (loadSession()) startLayoutWorker();

const root = document.getElementById('app')!;
interceptLinks(root);
render(<App />, root);
