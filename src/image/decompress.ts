import { promisify } from 'node:util';
import { gunzip } from 'node:zlib';
import { Compression, decompressCommands } from './compression';
import { runTool } from './run-tool';

const gunzipAsync = promisify(gunzip);

export async function decompress(data: Buffer, compression: Compression): Promise<Buffer> {
  if (compression === 'gzip') return gunzipAsync(data);
  return runTool(decompressCommands[compression], data);
}
