/**
 * dependency-cruiser rules for amps (run by `npm run lint`, hence by .ci/run).
 *
 * Imports follow the data path, downward only (ARCHITECTURE.md):
 *   model file → src/model → src/profile → src/cost → solver → src/plan → deploy → invoke/serve → commands
 * LAYERS lists every layer from the bottom up; a module may import its own layer and the layers
 * below it, never one above. Type-only imports count too (tsPreCompilationDeps), since a type that
 * lives too high forces the same upward edge as a value.
 */

/** Bottom to top. `path` is a regular expression on the repository-relative path. */
const LAYERS = [
  // shared by every layer: the error taxonomy, small utilities, AWS Lambda platform facts
  {name: 'shared', path: '^src/(errors\\.ts$|util/|platform/)'},
  // reading, validating and atomically writing the files users keep (profile.json, plan.json, deployment.json)
  {name: 'files', path: '^src/files/'},
  // tfjs initialisation (backend choice), used to load, run and profile models
  {name: 'tf-runtime', path: '^src/runtime/'},
  {name: 'model', path: '^src/model/'},
  // one stage of a model as it runs in a function: stage.json, wire codec, hand-off stores, runtime
  {name: 'stage', path: '^src/stage/'},
  // the bundle entry inside a function: nothing but the stage runtime may go into the bundle
  {name: 'deploy-runtime', path: '^deploy/runtime/'},
  {name: 'profile', path: '^src/profile/'},
  {name: 'cost', path: '^src/cost/'},
  {name: 'solver', path: '^solver/'},
  {name: 'plan', path: '^src/plan/'},
  {name: 'simulate', path: '^src/simulate/'},
  // deployment.json and the plan as deploy reads it: shared by every deploy role
  {name: 'deploy-state', path: '^deploy/state/'},
  {name: 'deploy-bundle', path: '^deploy/bundle/'},
  {name: 'deploy-targets', path: '^deploy/targets/'},
  // invoking a deployment (used by `invoke` and by the serve gateway)
  {name: 'deploy-client', path: '^deploy/client/'},
  // what `deploy` and `destroy` run: bundle + target
  {name: 'deploy-commands', path: '^deploy/[^/]+$'},
  {name: 'serve', path: '^src/serve/'},
  // what reads plans and deployments to show or export them: the HTML report, the SAM/CloudFormation export
  {name: 'report-export', path: '^src/(report|export)/'},
  {name: 'commands', path: '^(src/commands/|src/base-command\\.ts$|src/flags\\.ts$|bin/)'},
]

const upward = LAYERS.slice(0, -1).map((layer, i) => ({
  name: `no-upward-from-${layer.name}`,
  comment: `${layer.name} sits below ${LAYERS.slice(i + 1)
    .map((l) => l.name)
    .join(', ')}: it may import only its own layer and the ones beneath it (ARCHITECTURE.md).`,
  severity: 'error',
  from: {path: layer.path},
  to: {
    path: LAYERS.slice(i + 1)
      .map((l) => `(${l.path})`)
      .join('|'),
  },
}))

module.exports = {
  forbidden: [
    ...upward,
    {
      name: 'simulate-and-deploy-are-independent',
      comment: 'The simulator and the deploy code both start from a plan; neither needs the other.',
      severity: 'error',
      from: {path: '^deploy/'},
      to: {path: '^src/simulate/'},
    },
    {
      name: 'no-circular',
      comment: 'A cycle means two modules are one idea split in two, or a type that lives too high.',
      severity: 'error',
      from: {},
      to: {circular: true},
    },
    {
      name: 'no-test-in-production',
      comment: 'Production code (src, solver, deploy, bin, examples) never imports test/ code or fixtures.',
      severity: 'error',
      from: {path: '^(src|solver|deploy|bin|examples|scripts)/'},
      to: {path: '^test/'},
    },
    {
      name: 'not-to-dev-dep',
      comment: 'What users run must not need a devDependency (npm install --omit=dev leaves it out).',
      severity: 'error',
      from: {path: '^(src|solver|deploy|bin)/'},
      to: {dependencyTypes: ['npm-dev'], dependencyTypesNot: ['type-only']},
    },
    {
      name: 'not-to-unresolvable',
      comment: 'An import that does not resolve is a typo or a missing dependency.',
      severity: 'error',
      from: {},
      to: {couldNotResolve: true},
    },
  ],
  options: {
    doNotFollow: {path: 'node_modules'},
    // test/.cache: the bench's generated models and deployments (an interrupted run leaves bundles there)
    exclude: {path: '^(dist|dist-test|node_modules|test/fixtures|test/[.]cache)/'},
    tsPreCompilationDeps: true,
    tsConfig: {fileName: 'test/tsconfig.json'},
    enhancedResolveOptions: {
      exportsFields: ['exports'],
      conditionNames: ['import', 'require', 'node', 'default', 'types'],
      mainFields: ['module', 'main', 'types', 'typings'],
    },
    reporterOptions: {text: {highlightFocused: true}},
  },
}
