#!/usr/bin/env node
const { hoistGlobalFlags, protectExecArgs } = require('../dist/cli/global-flags');
const argv = protectExecArgs(hoistGlobalFlags(process.argv.slice(2)));
if (!require('../dist/cli/fast-path').runFastPath(argv)) {
  require('reflect-metadata');
  require('@oclif/core').execute({ dir: __dirname, args: argv });
}
