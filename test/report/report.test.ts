/**
 * amps report end to end: the built CLI plans the real examples/tiny-cnn (profiled into a temp
 * cache) into two stages, writes the report with a simulation, and a real headless Chromium
 * (Debian's /usr/bin/chromium through puppeteer-core) opens it from disk with the network cut:
 * no console error, no request leaves the file, every chart has data points and non-blank pixels,
 * and the screenshot is not blank. A second report from a plan whose text fields carry HTML and
 * script must show that text as text and run none of it.
 *
 * AMPS_WRITE_SCREENSHOT=1 also saves the screenshot as docs/report.png (the README's picture).
 */
import {existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {pathToFileURL} from 'node:url'

import {PNG} from 'pngjs'
import type {Browser} from 'puppeteer-core'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {type CliResult, runAmps} from '../helpers/cli.js'
import {repoRoot} from '../helpers/nsfwjs.js'

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium'
const haveChromium = existsSync(CHROMIUM)
if (!haveChromium) {
  if (process.env.CI) throw new Error(`${CHROMIUM} is missing in CI: .ci/run installs Debian's chromium; the report's browser test cannot run`)
  console.warn(`\n*** SKIPPING the report's browser test: no Chromium at ${CHROMIUM} (apt-get install chromium, or set CHROMIUM_PATH) ***\n`)
}

const model = join(repoRoot, 'examples', 'tiny-cnn')
let dir: string
let report: CliResult
let browser: Browser | undefined

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'amps-report-'))
  const env = {AMPS_CACHE_DIR: join(dir, 'cache')}
  // a smaller profile than the default grid (2 batch sizes × 2 memory sizes) keeps this quick on a busy machine
  const profiled = await runAmps(['profile', model, '--batch-sizes', '1,4', '--memory', '512,1769', '-o', 'profile.json', '--json'], {env, cwd: dir})
  expect(profiled.code, profiled.stderr).toBe(0)
  const planned = await runAmps(['plan', 'profile.json', '--slo', '150', '--rate', '20', '--stages', '2', '-o', 'plan.json', '--json'], {env, cwd: dir})
  expect(planned.code, planned.stderr).toBe(0)
  report = await runAmps(['report', 'plan.json', '--simulate', '--duration', '300', '--frontier-points', '5', '-o', 'report.html', '--json'], {env, cwd: dir})
  if (haveChromium) {
    const puppeteer = (await import('puppeteer-core')).default
    browser = await puppeteer.launch({executablePath: CHROMIUM, headless: true, args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage']})
  }
}, 600_000)

afterAll(async () => {
  await browser?.close()
  rmSync(dir, {recursive: true, force: true})
})

interface PageCheck {
  errors: string[]
  requests: string[]
  charts: {id: string; points: number[]; inkPixels: number}[]
  text: string
  injected: number
  png: Buffer
}

async function open(file: string): Promise<PageCheck> {
  const page = await browser!.newPage()
  await page.setViewport({width: 1100, height: 900})
  const errors: string[] = []
  const requests: string[] = []
  page.on('console', (m) => {
    if (m.type() === 'error' || m.type() === 'warn') errors.push(`${m.type()}: ${m.text()}`)
  })
  page.on('pageerror', (e) => errors.push(`pageerror: ${String(e)}`))
  await page.setRequestInterception(true)
  page.on('request', (r) => {
    const url = r.url()
    if (url !== pathToFileURL(file).href) requests.push(url)
    if (url.startsWith('file:') || url.startsWith('data:')) void r.continue()
    else void r.abort()
  })
  await page.goto(pathToFileURL(file).href, {waitUntil: 'load'})
  await page.waitForSelector('body[data-charts]')
  const charts = await page.evaluate(() => {
    const list = (window as unknown as {ampsCharts: any[]}).ampsCharts
    return list.map((c) => {
      const canvas = c.canvas as HTMLCanvasElement
      const ctx = canvas.getContext('2d')!
      const img = ctx.getImageData(0, 0, canvas.width, canvas.height).data
      let ink = 0
      for (let i = 0; i < img.length; i += 4) if (img[i + 3] > 0 && (img[i] < 230 || img[i + 1] < 230 || img[i + 2] < 230)) ink++
      const points = c.data.datasets.map(
        (d: any) => d.data.filter((v: any) => v !== null && (typeof v !== 'object' || (v.y !== null && v.y !== undefined))).length,
      )
      return {id: canvas.id, points, inkPixels: ink}
    })
  })
  const text = await page.evaluate(() => document.body.innerText)
  const injected = await page.evaluate(() => document.querySelectorAll('img, iframe, #pwned').length + ((window as any).pwned ? 1000 : 0))
  const png = Buffer.from(await page.screenshot({fullPage: true, type: 'png'}))
  await page.close()
  return {errors, requests, charts, text, injected, png}
}

function nonWhitePixels(png: Buffer): {count: number; total: number} {
  const img = PNG.sync.read(png)
  let count = 0
  for (let i = 0; i < img.data.length; i += 4) if (img.data[i] < 240 || img.data[i + 1] < 240 || img.data[i + 2] < 240) count++
  return {count, total: img.width * img.height}
}

describe('amps report', () => {
  it('writes one self-contained HTML file and says which charts it holds', () => {
    expect(report.code, report.stderr).toBe(0)
    expect(report.json.charts).toEqual(['frontier', 'power-tuning:stage-1', 'power-tuning:stage-2', 'timeline', 'latency'])
    const html = readFileSync(join(dir, 'report.html'), 'utf8')
    expect(report.json.bytes).toBe(Buffer.byteLength(html))
    // nothing to fetch: no src/href to anything, Chart.js inline, the data inline
    expect(/<script[^>]+src=|<link[^>]+href=|<img|url\(/.test(html)).toBe(false)
    expect(html.includes('Chart.js v4')).toBe(true)
    const data = JSON.parse(/<script type="application\/json" id="amps-data">([^<]*)<\/script>/.exec(html)![1])
    expect(data.plan.stages).toHaveLength(2)
    // the frontier was re-solved: the point at the plan's own SLO costs what the plan costs
    const own = data.frontier.points.find((p: any) => p.sloMs === data.plan.inputs.sloMs)
    expect(own.plan.costPerMillionUsd).toBeCloseTo(data.plan.predicted.costPerMillionUsd, 6)
    // cost never rises as the SLO loosens
    const costs = data.frontier.points.filter((p: any) => p.plan).map((p: any) => p.plan.costPerMillionUsd)
    for (let i = 1; i < costs.length; i++) expect(costs[i]).toBeLessThanOrEqual(costs[i - 1] * (1 + 1e-9))
    // Power Tuning: the stage's own memory is on its curve, at the plan's predicted ms
    for (const [i, s] of data.powerTuning.entries()) {
      const at = s.points.find((p: any) => p.memoryMb === s.chosenMemoryMb)
      expect(at.ms).toBeCloseTo(data.plan.stages[i].predictedMs, 2)
    }
    // the histogram counts every simulated request
    const h = data.simulation.latencyHistogram
    const warmup = /the first ([\d.]+) s .* left out/.exec(data.notes.join('\n'))
    const counted = h.counts.reduce((a: number, b: number) => a + b, 0) + h.overflow
    if (warmup) expect(counted).toBeLessThan(data.simulation.arrivals.requests)
    else expect(counted).toBe(data.simulation.arrivals.requests)
    expect(data.simulation.slo.misses).toBeGreaterThanOrEqual(h.overflow)
  })

  it.skipIf(!haveChromium)('opens in Chromium with no errors and no network; every chart draws its marks', async () => {
    const file = join(dir, 'report.html')
    const page = await open(file)
    expect(page.errors).toEqual([])
    expect(page.requests).toEqual([])
    expect(page.charts.map((c) => c.id)).toEqual(['chart-frontier', 'chart-power-0', 'chart-power-1', 'chart-timeline', 'chart-latency'])
    for (const c of page.charts) {
      for (const n of c.points) expect(n, `${c.id}: a dataset without points`).toBeGreaterThan(0)
      expect(c.inkPixels, `${c.id} is blank`).toBeGreaterThan(2000)
    }
    const shot = nonWhitePixels(page.png)
    expect(shot.count / shot.total).toBeGreaterThan(0.03)
    expect(page.text).toContain('amps report: tiny-cnn')
    if (process.env.AMPS_WRITE_SCREENSHOT) {
      mkdirSync(join(repoRoot, 'docs'), {recursive: true})
      writeFileSync(join(repoRoot, 'docs', 'report.png'), page.png)
    }
  })

  it.skipIf(!haveChromium)('shows HTML and script from the plan as text and runs none of it', async () => {
    const plan = JSON.parse(readFileSync(join(dir, 'plan.json'), 'utf8'))
    const evil = `</script><img src=x onerror="window.pwned=1"><script>window.pwned=1</script><!--`
    plan.model.name = `tiny ${evil}`
    plan.stages[0].layers.first = evil
    plan.warnings = [...(plan.warnings ?? []), `note ${evil}`]
    writeFileSync(join(dir, 'evil-plan.json'), JSON.stringify(plan))
    const r = await runAmps(['report', 'evil-plan.json', '-o', 'evil.html', '--frontier-points', '2', '--json'], {
      cwd: dir,
      env: {AMPS_CACHE_DIR: join(dir, 'cache')},
    })
    expect(r.code, r.stderr).toBe(0)
    const page = await open(join(dir, 'evil.html'))
    expect(page.errors).toEqual([])
    expect(page.injected).toBe(0)
    expect(page.text).toContain(`amps report: tiny ${evil}`)
    expect(page.text).toContain(`note ${evil}`)
    expect(page.charts.length).toBe(4)
  })

  it('names a wrong input in one line (exit 2)', async () => {
    const [missing, noRate] = await Promise.all([
      runAmps(['report', 'nope.json', '--json'], {cwd: dir}),
      runAmps(['report', 'plan.json', '--simulate', '--rate', '0', '-o', 'other.html', '--json'], {cwd: dir}),
    ])
    expect(missing.code).toBe(2)
    expect(missing.json.error.message).toMatch(/nope\.json/)
    expect(noRate.code).toBe(2)
    expect(noRate.json.error.message).toMatch(/^--rate 0 is not a request rate/)
    expect(existsSync(join(dir, 'other.html'))).toBe(false)
  })
})
