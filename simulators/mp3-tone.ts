import { Mp3Encoder } from '@breezystack/lamejs'

/*
 * MP3 files as call recorders write them (8 kHz mono, MPEG-2.5 Layer III, 16 kbit/s CBR by default),
 * made in JavaScript so that the demo and the simulators need no `lame` binary.
 */

export interface Mp3ToneOptions {
  seconds: number
  freq: number
  /** Default 8000. */
  rate?: number
  /** Default 16. */
  kbps?: number
}

export function toneMp3(opts: Mp3ToneOptions): Buffer {
  const rate = opts.rate ?? 8000
  const pcm = new Int16Array(Math.round(opts.seconds * rate))
  for (let i = 0; i < pcm.length; i++) pcm[i] = Math.round(8000 * Math.sin((2 * Math.PI * opts.freq * i) / rate))
  const encoder = new Mp3Encoder(1, rate, opts.kbps ?? 16)
  const parts = [encoder.encodeBuffer(pcm), encoder.flush()]
  return Buffer.concat(parts.map((p) => Buffer.from(p.buffer, p.byteOffset, p.byteLength)))
}
