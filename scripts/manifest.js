#!/usr/bin/env node
// Writes oclif.manifest.json from the built commands (dist/), so `amps` starts without importing every
// command module (and tfjs / the AWS SDK with them) just to list or find one. Run by `npm run build`.
import {Config} from '@oclif/core'
import {rmSync, writeFileSync} from 'node:fs'
import {dirname, join} from 'node:path'
import {fileURLToPath} from 'node:url'

const root = join(dirname(fileURLToPath(import.meta.url)), '..')
const target = join(root, 'oclif.manifest.json')
// a stale manifest would hide new commands from the loader we use to build the new one
rmSync(target, {force: true})
const config = await Config.load({root})
const plugin = config.getPluginsList().find((p) => p.isRoot)
if (!plugin) throw new Error('root plugin not found')
writeFileSync(target, JSON.stringify(plugin.manifest, null, 2) + '\n')
console.error(`oclif.manifest.json: ${Object.keys(plugin.manifest.commands).length} commands`)
