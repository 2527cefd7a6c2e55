/**
 * fflate's unzipSync does not check CRC-32s: a .keras whose model.weights.h5 has flipped bytes
 * (stored uncompressed, as Keras writes it) unzips "fine". This reads each entry's CRC-32 from the
 * zip's central directory and checks the bytes fflate extracted against it, naming the damaged entry.
 */
import {AmpsUserError} from '../../errors.js'

let table: Uint32Array | undefined

function crcTable(): Uint32Array {
  if (table) return table
  table = new Uint32Array(256)
  for (let n = 0; n < 256; n++) {
    let c = n
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1
    table[n] = c >>> 0
  }
  return table
}

/** CRC-32 (ISO-HDLC, as zip uses). */
export function crc32(bytes: Uint8Array): number {
  const t = crcTable()
  let c = 0xffffffff
  for (let i = 0; i < bytes.length; i++) c = t[(c ^ bytes[i]) & 0xff] ^ (c >>> 8)
  return (c ^ 0xffffffff) >>> 0
}

/** Entry name → CRC-32 from the central directory; undefined when the directory cannot be found. */
export function centralDirectoryCrcs(zip: Uint8Array): Map<string, number> | undefined {
  const view = new DataView(zip.buffer, zip.byteOffset, zip.byteLength)
  let eocd = -1
  for (let i = zip.length - 22; i >= Math.max(0, zip.length - 22 - 65_535); i--) {
    if (view.getUint32(i, true) === 0x06054b50) {
      eocd = i
      break
    }
  }
  if (eocd < 0) return undefined
  const count = view.getUint16(eocd + 10, true)
  let at = view.getUint32(eocd + 16, true)
  const out = new Map<string, number>()
  const decoder = new TextDecoder()
  for (let i = 0; i < count; i++) {
    if (at + 46 > zip.length || view.getUint32(at, true) !== 0x02014b50) return out
    const crc = view.getUint32(at + 16, true)
    const nameLen = view.getUint16(at + 28, true)
    const extraLen = view.getUint16(at + 30, true)
    const commentLen = view.getUint16(at + 32, true)
    out.set(decoder.decode(zip.subarray(at + 46, at + 46 + nameLen)), crc)
    at += 46 + nameLen + extraLen + commentLen
  }
  return out
}

/** Throws FILE_INVALID naming the first extracted entry whose bytes do not match its CRC-32. */
export function checkZipCrcs(zip: Uint8Array, files: Record<string, Uint8Array>, label: string): void {
  const crcs = centralDirectoryCrcs(zip)
  if (!crcs) return
  for (const [name, bytes] of Object.entries(files)) {
    const want = crcs.get(name)
    if (want === undefined) continue
    const got = crc32(bytes)
    if (got !== want) {
      throw new AmpsUserError(
        'FILE_INVALID',
        `${label} is damaged: ${name} inside the archive fails its CRC-32 check (stored ${want.toString(16).padStart(8, '0')}, computed ${got.toString(16).padStart(8, '0')})`,
        {suggestions: ['Copy or download the file again; if Keras wrote it, save the model again']},
      )
    }
  }
}
