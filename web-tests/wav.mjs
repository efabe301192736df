// Minimal WAV (PCM16 mono) reading and writing, to build the fake microphone's input.
import { readFileSync, writeFileSync } from 'node:fs';

export function readWav(path) {
  const b = readFileSync(path);
  if (b.toString('ascii', 0, 4) !== 'RIFF' || b.toString('ascii', 8, 12) !== 'WAVE') {
    throw new Error(`${path} is not a WAV file`);
  }
  let off = 12, rate = 0, channels = 1, bits = 16, data = null;
  while (off + 8 <= b.length) {
    const id = b.toString('ascii', off, off + 4);
    const size = b.readUInt32LE(off + 4);
    if (id === 'fmt ') {
      channels = b.readUInt16LE(off + 10);
      rate = b.readUInt32LE(off + 12);
      bits = b.readUInt16LE(off + 22);
    } else if (id === 'data') {
      // espeak-ng streams its WAV and may leave the size as 0 or too big.
      const end = size === 0 || off + 8 + size > b.length ? b.length : off + 8 + size;
      data = b.subarray(off + 8, end);
    }
    off += 8 + size + (size % 2);
    if (size === 0) break;
  }
  if (!data || bits !== 16 || channels !== 1) throw new Error(`${path}: expected 16-bit mono PCM`);
  const samples = new Int16Array(data.length >> 1);
  for (let i = 0; i < samples.length; i++) samples[i] = data.readInt16LE(i * 2);
  return { rate, samples };
}

export function writeWav(path, rate, samples) {
  const b = Buffer.alloc(44 + samples.length * 2);
  b.write('RIFF', 0, 'ascii');
  b.writeUInt32LE(36 + samples.length * 2, 4);
  b.write('WAVE', 8, 'ascii');
  b.write('fmt ', 12, 'ascii');
  b.writeUInt32LE(16, 16);
  b.writeUInt16LE(1, 20);
  b.writeUInt16LE(1, 22);
  b.writeUInt32LE(rate, 24);
  b.writeUInt32LE(rate * 2, 28);
  b.writeUInt16LE(2, 32);
  b.writeUInt16LE(16, 34);
  b.write('data', 36, 'ascii');
  b.writeUInt32LE(samples.length * 2, 40);
  for (let i = 0; i < samples.length; i++) b.writeInt16LE(samples[i], 44 + i * 2);
  writeFileSync(path, b);
}

/// `parts` is a list of sample arrays (speech) and numbers (seconds of silence).
export function concat(rate, parts) {
  const out = [];
  for (const p of parts) {
    if (typeof p === 'number') out.push(new Int16Array(Math.round(p * rate)));
    else out.push(p);
  }
  const total = out.reduce((n, a) => n + a.length, 0);
  const all = new Int16Array(total);
  let at = 0;
  for (const a of out) { all.set(a, at); at += a.length; }
  return all;
}
