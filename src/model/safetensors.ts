/**
 * Safetensors reading: header parsing (with truncation checks) and tensor reads converted to f32.
 * Files are read tensor by tensor with positioned reads, so loading never holds a whole shard.
 */
import { closeSync, fstatSync, openSync, readSync } from 'node:fs';

export type SafeDtype = 'F32' | 'F16' | 'BF16';

/** Where one tensor lives on disk. */
export interface TensorEntry {
  name: string;
  file: string;
  dtype: SafeDtype;
  shape: number[];
  /** Absolute byte offset of the data in the file. */
  offset: number;
  byteLength: number;
}

const BYTES: Record<SafeDtype, number> = { F32: 4, F16: 2, BF16: 2 };

/** Largest header accepted (the safetensors format's own limit). */
export const MAX_HEADER_BYTES = 100 * 1024 * 1024;

function isCount(v: unknown): v is number {
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
}

/** Checks one header entry's fields; returns the entry's shape, dtype and offsets or throws naming the tensor. */
function checkEntry(file: string, name: string, t: unknown): { dtype: SafeDtype; shape: number[]; start: number; end: number } {
  if (t === null || typeof t !== 'object' || Array.isArray(t)) throw new Error(`${file}: header entry ${JSON.stringify(name)} is not an object`);
  const { dtype, shape, data_offsets: offsets } = t as { dtype?: unknown; shape?: unknown; data_offsets?: unknown };
  if (typeof dtype !== 'string' || !Object.hasOwn(BYTES, dtype)) {
    throw new Error(`${file}: tensor ${name} has unsupported dtype ${typeof dtype === 'string' ? dtype : JSON.stringify(dtype ?? null)} (supported: F32, F16, BF16)`);
  }
  if (!Array.isArray(shape) || !shape.every(isCount)) throw new Error(`${file}: tensor ${name} has an invalid shape ${JSON.stringify(shape ?? null)} (expected a list of non-negative integers)`);
  if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every(isCount) || offsets[0] > offsets[1]) {
    throw new Error(`${file}: tensor ${name} has invalid data_offsets ${JSON.stringify(offsets ?? null)} (expected [start, end] with 0 <= start <= end)`);
  }
  return { dtype: dtype as SafeDtype, shape, start: offsets[0], end: offsets[1] };
}

/** Parses a safetensors header and checks every tensor lies inside the file. Errors name the file. */
export function readSafetensorsHeader(file: string): TensorEntry[] {
  const fd = openSync(file, 'r');
  try {
    const size = fstatSync(fd).size;
    if (size < 8) throw new Error(`${file}: truncated safetensors file (${size} bytes, no header)`);
    const lenBuf = Buffer.alloc(8);
    readSync(fd, lenBuf, 0, 8, 0);
    const headerLen = Number(lenBuf.readBigUInt64LE(0));
    if (headerLen <= 0 || 8 + headerLen > size) {
      throw new Error(`${file}: truncated or corrupt safetensors header (header says ${headerLen} bytes, file has ${size})`);
    }
    if (headerLen > MAX_HEADER_BYTES) throw new Error(`${file}: corrupt safetensors header (${headerLen} bytes; the format allows at most ${MAX_HEADER_BYTES})`);
    const hdr = Buffer.alloc(headerLen);
    readSync(fd, hdr, 0, headerLen, 8);
    let json: unknown;
    try {
      json = JSON.parse(hdr.toString('utf8'));
    } catch {
      throw new Error(`${file}: safetensors header is not valid JSON`);
    }
    if (json === null || typeof json !== 'object' || Array.isArray(json)) throw new Error(`${file}: safetensors header is not a JSON object`);
    const base = 8 + headerLen;
    const out: TensorEntry[] = [];
    for (const [name, t] of Object.entries(json)) {
      if (name === '__metadata__') continue;
      const { dtype, shape, start, end } = checkEntry(file, name, t);
      const count = shape.reduce((a, b) => a * b, 1);
      if (end - start !== count * BYTES[dtype]) {
        throw new Error(`${file}: tensor ${name} byte length ${end - start} does not match shape [${shape}] ${dtype}`);
      }
      if (base + end > size) {
        throw new Error(`${file}: truncated file: tensor ${name} ends at byte ${base + end} but the file has ${size} bytes`);
      }
      out.push({ name, file, dtype, shape, offset: base + start, byteLength: end - start });
    }
    return out;
  } finally {
    closeSync(fd);
  }
}

/** Converts raw little-endian bytes of one dtype to f32. */
export function toFloat32(bytes: Uint8Array, dtype: SafeDtype): Float32Array {
  if (dtype === 'F32') {
    const out = new Float32Array(bytes.byteLength / 4);
    new Uint8Array(out.buffer).set(bytes);
    return out;
  }
  const n = bytes.byteLength / 2;
  const src = new Uint16Array(n);
  new Uint8Array(src.buffer).set(bytes);
  const out = new Float32Array(n);
  if (dtype === 'BF16') {
    const u = new Uint32Array(out.buffer);
    for (let i = 0; i < n; i++) u[i] = src[i] << 16;
    return out;
  }
  for (let i = 0; i < n; i++) out[i] = halfToFloat(src[i]);
  return out;
}

function halfToFloat(h: number): number {
  const s = h & 0x8000 ? -1 : 1;
  const e = (h >> 10) & 0x1f;
  const f = h & 0x3ff;
  if (e === 0) return s * f * 2 ** -24;
  if (e === 31) return f ? NaN : s * Infinity;
  return s * (1 + f / 1024) * 2 ** (e - 15);
}

/** Reads one tensor from disk as f32. */
export function readTensorF32(entry: TensorEntry): Float32Array {
  const fd = openSync(entry.file, 'r');
  try {
    const buf = Buffer.allocUnsafe(entry.byteLength);
    let done = 0;
    while (done < entry.byteLength) {
      const n = readSync(fd, buf, done, entry.byteLength - done, entry.offset + done);
      if (n <= 0) throw new Error(`${entry.file}: truncated file while reading ${entry.name}`);
      done += n;
    }
    return toFloat32(buf, entry.dtype);
  } finally {
    closeSync(fd);
  }
}
