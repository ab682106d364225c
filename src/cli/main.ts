#!/usr/bin/env node
import { buildProgram, normaliseArgs } from './program.js';

// Everything this process creates is its owner's alone: the data folder holds API-key hashes,
// webhook secrets and every recorded run, and the CLI writes no file meant for other users.
// Set before anything opens the folder, so folders PGlite creates (initdb, new databases)
// start 0700. PGlite sets its files' modes itself (no umask reaches them): the store makes
// them private when it opens (store/data-dir-mode.ts), and the 0700 folder guards the rest.
// This lives here, not in the store: a library user's process and its umask are theirs.
process.umask(0o077);

buildProgram()
  .parseAsync(normaliseArgs(process.argv.slice(2)), { from: 'user' })
  .catch((error: Error) => {
    console.error(`error: ${error.message}`);
    process.exitCode = 2;
  });
