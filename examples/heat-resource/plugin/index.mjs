// Example::Notes::File: a note, a file written under a directory. Its content is updated in
// place; another directory or name replaces it (the new file is written first, then the old one
// removed). Suspended, the file is read-only; resumed, writable again. Its check fails when the
// file is gone or its content is not what the template says.
import { chmodSync, mkdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { AllowedPattern, Length, Resource, resourceMapping } from '@weft/sdk';

class NoteFile extends Resource {
  static properties = {
    directory: {
      type: 'string',
      description: 'The directory the note is written in (made if missing).',
      required: true,
      constraints: [Length({ min: 1 })],
    },
    name: {
      type: 'string',
      description: "The note's file name.",
      required: true,
      constraints: [
        Length({ min: 1, max: 64 }),
        AllowedPattern('^[A-Za-z0-9][A-Za-z0-9._-]*$', 'letters, digits, ".", "_" and "-"'),
      ],
    },
    content: {
      type: 'string',
      description: 'What the note says.',
      default: '',
      updateAllowed: true,
      constraints: [Length({ max: 4096 })],
    },
  };

  static attributes = {
    path: "The note's file.",
    size: 'Its size in bytes.',
  };

  get path() {
    return join(this.properties.directory, this.properties.name);
  }

  handleCreate() {
    mkdirSync(this.properties.directory, { recursive: true });
    // Written aside and renamed into place, so the note is a new file (a new inode) even where an
    // old one of the same path is being replaced: the old one's delete then leaves it alone.
    const aside = `${this.path}.${process.pid}.new`;
    writeFileSync(aside, this.properties.content);
    renameSync(aside, this.path);
    this.resourceId = this.path;
    this.ctx.instance.runtimeProperties.inode = statSync(this.path).ino;
    return null;
  }

  handleUpdate(_snippet, _templateDiff, changed) {
    writeFileSync(this.resourceId, changed.content ?? '');
    return null;
  }

  handleSuspend() {
    chmodSync(this.resourceId, 0o444);
    return null;
  }

  handleResume() {
    chmodSync(this.resourceId, 0o644);
    return null;
  }

  handleCheck() {
    const content = readFileSync(this.resourceId, 'utf8'); // throws when the file is gone
    if (content !== this.properties.content)
      throw new Error(`${this.resourceId} was changed outside the stack`);
    return null;
  }

  handleDelete() {
    const id = this.resourceId;
    const inode = this.ctx.instance.runtimeProperties.inode;
    let current;
    try {
      current = id ? statSync(id).ino : undefined;
    } catch {
      return null; // already gone
    }
    if (current === inode) rmSync(id, { force: true });
    return null;
  }

  resolveAttribute(name) {
    if (!this.resourceId) return undefined;
    if (name === 'path') return this.resourceId;
    if (name === 'size') return statSync(this.resourceId).size;
    return undefined;
  }
}

export const resources = resourceMapping({ 'Example::Notes::File': NoteFile });
