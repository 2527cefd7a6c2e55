import {Args, Flags} from '@oclif/core'

import {BaseCommand} from '../base-command.js'
import {BATCH_SIZES_RULE, MEMORY_RULE, numberListFlag, outputFlag} from '../flags.js'
import {profileModel, summarizeProfile, writeProfile, type Profile as ProfileJson} from '../profile/index.js'
import {progressReporter} from '../profile/progress.js'
import {formatSummary} from '../profile/summary.js'
import {profileFormat} from '../profile/schema.js'
import {serialise} from '../files/format.js'

export default class Profile extends BaseCommand {
  static summary = 'Measure how long every layer of a model takes at each Lambda memory size and batch size'

  static description = `Loads the model, then runs it layer by layer in a separate process, once per batch size and memory size, and records each layer's median, p10, p90, min and max time, the whole model's time, and what the runtime itself costs (start-up, memory per MB of weights and activations, model load, per-call overhead, tensor encoding). The planner reads the result, profile.json.

Lambda gives a function m/1769 of a CPU at m MB of memory. amps reproduces that by running the measuring process under a CPU quota of m/1769 of a core (a Linux cgroup; needs root or a delegated cgroup). Sizes up to 1769 MB all compute on one thread, so only the largest of them is measured and the smaller ones are derived from its CPU time (time = CPU time × 1769/m, marked modelled); sizes above 1769 MB are each measured under their own quota. Where no quota can be set, it measures at full speed and marks the other sizes as modelled: ms(m) = ms(1769) × max(1, 1769/m).

The default backend is the one amps plan deploys: ONNX Runtime when every layer exports to ONNX, else TensorFlow.js.

Results are cached by the model's content and the options (under $AMPS_CACHE_DIR/profiles, default ~/.cache/amps/profiles); --force measures again. Use --quick for a first look (batch 1, 512 and 1769 MB, fewer repeats). Times depend on the machine: profile on an otherwise idle machine like the one you will compare with.

The model is checked before anything is measured: weights holding NaN or ±Infinity are refused (exit 2, naming the weight), as are a .keras whose entries fail their zip CRC-32, unreadable HDF5 datasets, and weight files model.json lists outside its own folder.`

  static examples = [
    {description: 'Profile a TF.js layers model with the defaults', command: '<%= config.bin %> <%= command.id %> ./mobilenet/model.json -o profile.json'},
    {description: 'A fast first look', command: '<%= config.bin %> <%= command.id %> model.h5 --quick'},
    {
      description: 'Choose the points, measure again, machine-readable',
      command: '<%= config.bin %> <%= command.id %> model.keras --batch-sizes 1,4 --memory 1024,2048 --force --json',
    },
  ]

  static args = {
    model: Args.string({description: 'model.json (or its directory), a Keras .h5 or a .keras file', required: true}),
  }

  static flags = {
    output: outputFlag({description: 'where to write profile.json', default: 'profile.json'}),
    'batch-sizes': numberListFlag({description: 'batch sizes to measure, comma-separated (default 1,2,4,8; --quick: 1)', rule: BATCH_SIZES_RULE})(),
    memory: numberListFlag({
      description: 'Lambda memory sizes to emulate in MB, comma-separated (default 512,1024,1769,3008; --quick: 512,1769)',
      rule: MEMORY_RULE,
    })(),
    quick: Flags.boolean({description: 'fewer repeats, batch sizes and memory sizes, for a first look', default: false}),
    'no-cache': Flags.boolean({description: 'measure again even when a cached profile exists (--force only ever means "do not ask" in amps)', default: false}),
    backend: Flags.option({
      options: ['onnx', 'tensorflow', 'wasm', 'cpu'] as const,
      description:
        'what runs the layers: onnx (the exported model on onnxruntime-node, as ONNX stages run it) or a tfjs backend; default: onnx when every layer exports (as amps plan deploys), else tfjs-node if installed, else wasm',
    })(),
  }

  async run(): Promise<ProfileJson> {
    const {args, flags} = await this.parse(Profile)
    const progress = progressReporter()
    let profile: ProfileJson
    try {
      profile = await profileModel(args.model, {
        batchSizes: flags['batch-sizes'],
        memoryMb: flags.memory,
        quick: flags.quick,
        force: flags['no-cache'],
        backend: flags.backend ?? 'auto',
        onProgress: (p) => progress.onProgress(p),
      })
    } finally {
      progress.finish()
    }
    const out = flags.output
    writeProfile(out, profile)
    if (!this.jsonEnabled()) {
      this.log(formatSummary(summarizeProfile(profile)))
      for (const w of profile.warnings) this.log(`warning: ${w}`)
      this.log(`\nwrote ${out}`)
    }
    // --json prints exactly what profile.json holds (kind and version first)
    return JSON.parse(serialise(profileFormat, profile)) as ProfileJson
  }
}
