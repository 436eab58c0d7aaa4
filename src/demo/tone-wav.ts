/*
 * A sine tone as a 16-bit PCM mono WAV, written in JavaScript: the demo must run on a machine that has
 * only Node and `npm ci` (no sox).
 */

export interface ToneSpec {
  readonly seconds: number
  /** Hz. Each part of a call gets its own, so a listener hears the order of the parts. */
  readonly freq: number
  /** Default 8000 (telephony). */
  readonly rate?: number
}

/** Samples per channel a tone has: what a WAV reader reports as its length. */
export function toneSamples(spec: ToneSpec): number {
  return Math.round(spec.seconds * (spec.rate ?? 8000))
}

/** A complete WAV file: the canonical 44-byte header (RIFF, `fmt ` PCM, `data`) and the samples. */
export function toneWav(spec: ToneSpec): Buffer {
  const rate = spec.rate ?? 8000
  const samples = toneSamples(spec)
  const dataBytes = samples * 2
  const wav = Buffer.alloc(44 + dataBytes)
  wav.write('RIFF', 0, 'latin1')
  wav.writeUInt32LE(36 + dataBytes, 4)
  wav.write('WAVE', 8, 'latin1')
  wav.write('fmt ', 12, 'latin1')
  wav.writeUInt32LE(16, 16) // fmt chunk size
  wav.writeUInt16LE(1, 20) // WAVE_FORMAT_PCM
  wav.writeUInt16LE(1, 22) // mono
  wav.writeUInt32LE(rate, 24)
  wav.writeUInt32LE(rate * 2, 28) // byte rate
  wav.writeUInt16LE(2, 32) // block align
  wav.writeUInt16LE(16, 34) // bits per sample
  wav.write('data', 36, 'latin1')
  wav.writeUInt32LE(dataBytes, 40)
  // Half amplitude: audible without clipping.
  const amplitude = 0.5 * 32767
  for (let i = 0; i < samples; i++) {
    wav.writeInt16LE(Math.round(amplitude * Math.sin((2 * Math.PI * spec.freq * i) / rate)), 44 + i * 2)
  }
  return wav
}
