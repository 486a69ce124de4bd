#!/usr/bin/env node
require('reflect-metadata');
const { hoistGlobalFlags } = require('../dist/cli/global-flags');
require('@oclif/core').execute({ dir: __dirname, args: hoistGlobalFlags(process.argv.slice(2)) });
