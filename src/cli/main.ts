#!/usr/bin/env node
import { buildProgram } from './program.js';

buildProgram()
  .parseAsync(process.argv)
  .catch((error: Error) => {
    console.error(`error: ${error.message}`);
    process.exitCode = 2;
  });
