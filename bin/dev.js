#!/usr/bin/env node
// Same as run.js but shows stacks for every error (oclif development mode).
import {execute} from '@oclif/core'

await execute({development: true, dir: import.meta.url})
