/**
 * The one money format and the one text-table renderer (cli-table3) for every human-readable
 * output amps prints (stdout, only without --json).
 */
import Table from 'cli-table3'

/** Dollars: 2 decimals with thousands separators; amounts under a cent keep 3 significant digits. */
export function usd(x: number, digits = 2): string {
  if (!Number.isFinite(x)) return '—'
  if (x !== 0 && Math.abs(x) < 0.01 && digits <= 2) return '$' + x.toPrecision(3)
  return '$' + x.toLocaleString('en-US', {minimumFractionDigits: digits, maximumFractionDigits: digits})
}

const NUMERIC = /^[-+$]?[\d.,]+( ?(ms|MB|KB|B|%|×|x))?$|^[—–-]$/

/**
 * A borderless table: the header, a rule under it, then the rows; a column whose cells are all
 * numbers is right-aligned (or the columns listed in `align`).
 */
export function table(header: string[], rows: string[][], align?: ('left' | 'right')[]): string {
  const right = align ?? header.map((_, i) => (rows.length > 0 && rows.every((r) => NUMERIC.test(r[i] ?? '')) ? 'right' : 'left'))
  const t = new Table({
    head: header,
    chars: {
      top: '',
      'top-mid': '',
      'top-left': '',
      'top-right': '',
      bottom: '',
      'bottom-mid': '',
      'bottom-left': '',
      'bottom-right': '',
      left: '',
      'left-mid': '',
      mid: '',
      'mid-mid': '',
      right: '',
      'right-mid': '',
      middle: '  ',
    },
    style: {head: [], border: [], 'padding-left': 0, 'padding-right': 0, compact: true},
    colAligns: right,
  })
  for (const r of rows) t.push(header.map((_, i) => r[i] ?? ''))
  const lines = t
    .toString()
    .split('\n')
    .map((l) => l.trimEnd())
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)))
  return [lines[0], widths.map((w) => '─'.repeat(w)).join('  '), ...lines.slice(1)].join('\n')
}
