/**
 * Facts about the AWS Lambda platform that every layer of amps shares (profile, cost, solver,
 * plan, deploy). Kept at the bottom of the import graph, beside src/errors.ts and src/util, so
 * that no layer has to import a higher one to name them.
 */

/** Lambda instruction set architectures amps plans for (price table keys, plan.json `arch`). */
export type Arch = 'x86_64' | 'arm64'
