/**
 * The theme: the system's (prefers-color-scheme, followed as it changes), or light or dark as
 * chosen. The choice is kept in localStorage (it is not a secret and outlives the tab, as a
 * preference should); "system" keeps nothing.
 */
export type ThemeChoice = 'system' | 'light' | 'dark';

const KEY = 'weft.theme';
const dark = window.matchMedia('(prefers-color-scheme: dark)');

export function themeChoice(): ThemeChoice {
  const kept = localStorage.getItem(KEY);
  return kept === 'light' || kept === 'dark' ? kept : 'system';
}

function apply(): void {
  const choice = themeChoice();
  document.documentElement.dataset.theme = choice === 'system' ? (dark.matches ? 'dark' : 'light') : choice;
}

export function chooseTheme(choice: ThemeChoice): void {
  if (choice === 'system') localStorage.removeItem(KEY);
  else localStorage.setItem(KEY, choice);
  apply();
}

/** Sets the theme now and again whenever the system's changes. */
export function startTheme(): void {
  apply();
  dark.addEventListener('change', apply);
}
