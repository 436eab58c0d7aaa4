import { readFile, writeFile } from 'node:fs/promises'
import { fmtBodyOf, replaceFmt } from './wav-craft.js'

/** Rewrites a 16-bit PCM WAV so its `fmt ` chunk carries `padBytes` bytes of padding after a cbSize of 0. */
export async function padFmtChunk(path: string, padBytes: number): Promise<void> {
  const wav = await readFile(path)
  const core = fmtBodyOf(wav).subarray(0, 16)
  await writeFile(path, replaceFmt(wav, Buffer.concat([core, Buffer.alloc(2), Buffer.alloc(padBytes, 0x55)])))
}
