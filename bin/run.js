#!/usr/bin/env node
require('reflect-metadata');
require('@oclif/core').execute({ dir: __dirname });
