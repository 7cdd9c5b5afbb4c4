import { readFile, writeFile } from 'node:fs/promises';
import * as tf from '@tensorflow/tfjs-core';
import { z } from 'zod';

/** One tensor's place in a `.bin` file: what `<name>.json` lists, in file order. */
export const TensorSpecSchema = z.object({
  name: z.string(),
  shape: z.array(z.number().int().min(0)),
  dtype: z.enum(['float32', 'int32']),
});
export type TensorSpec = z.infer<typeof TensorSpecSchema>;

export interface NamedValue {
  name: string;
  tensor: tf.Tensor;
}

/** Writes tensors as raw little-endian values (`<base>.bin`) plus their specs (`<base>.json`). */
export async function writeTensors(base: string, values: readonly NamedValue[]): Promise<void> {
  const specs: TensorSpec[] = [];
  const parts: Buffer[] = [];
  for (const { name, tensor } of values) {
    const dtype = tensor.dtype === 'int32' ? 'int32' : 'float32';
    const data =
      dtype === 'int32'
        ? Int32Array.from(tensor.dataSync() as Int32Array)
        : Float32Array.from(tensor.dataSync() as Float32Array);
    specs.push({ name, shape: tensor.shape, dtype });
    parts.push(Buffer.from(data.buffer, data.byteOffset, data.byteLength));
  }
  await writeFile(`${base}.bin`, Buffer.concat(parts));
  await writeFile(`${base}.json`, JSON.stringify(specs));
}

/** Reads what writeTensors wrote; the caller owns (and disposes) the returned tensors. */
export async function readTensors(base: string): Promise<NamedValue[]> {
  const specs = z.array(TensorSpecSchema).parse(JSON.parse(await readFile(`${base}.json`, 'utf8')));
  const bytes = await readFile(`${base}.bin`);
  const out: NamedValue[] = [];
  let offset = 0;
  for (const spec of specs) {
    const count = spec.shape.reduce((a, b) => a * b, 1);
    const byteLength = count * 4;
    if (offset + byteLength > bytes.byteLength)
      throw new Error(`${base}.bin is truncated at tensor ${spec.name}`);
    const copy = new Uint8Array(bytes.subarray(offset, offset + byteLength));
    const values = spec.dtype === 'int32' ? new Int32Array(copy.buffer) : new Float32Array(copy.buffer);
    out.push({ name: spec.name, tensor: tf.tensor(values, spec.shape, spec.dtype) });
    offset += byteLength;
  }
  if (offset !== bytes.byteLength)
    throw new Error(`${base}.bin has ${bytes.byteLength - offset} unexpected trailing bytes`);
  return out;
}

export function disposeValues(values: readonly NamedValue[]): void {
  for (const v of values) v.tensor.dispose();
}
