import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { compressedStream, extractVmlinux, isElf, locatePayload } from '../../../src/image/bzimage';
import { Compression, detectCompression } from '../../../src/image/compression';
import { newestKernelFile } from '../../../src/image/kernel-version';
import { fakeVmlinux, kernelPayload, makeBzImage, toolAvailable } from '../../fixtures/image/synthetic-bzimage';

const COMPRESSIONS: readonly Compression[] = ['gzip', 'xz', 'zstd', 'lz4', 'bzip2', 'lzma'];

describe('bzImage', () => {
  describe('locatePayload', () => {
    it('finds the payload after the setup sectors and detects its compression', () => {
      const payload = kernelPayload(fakeVmlinux(), 'gzip');
      const payloadInfo = locatePayload(makeBzImage(payload, 3, 0x100));
      assert.deepEqual(payloadInfo, { offset: 4 * 512 + 0x100, length: payload.length, compression: 'gzip' });
    });

    it('reads setup_sects 0 as 4', () => {
      const payload = kernelPayload(fakeVmlinux(), 'gzip');
      assert.equal(locatePayload(makeBzImage(payload, 0, 0x40)).offset, 5 * 512 + 0x40);
    });

    it('rejects a file without the HdrS header', () => {
      const image = makeBzImage(kernelPayload(fakeVmlinux(), 'gzip'));
      image.write('Nope', 0x202, 'latin1');
      assert.throws(() => locatePayload(image), { code: 'invalid-argument', message: /HdrS/ });
    });

    it('rejects a payload that runs past the end of the file', () => {
      const image = makeBzImage(kernelPayload(fakeVmlinux(), 'gzip'));
      image.writeUInt32LE(image.length, 0x24c);
      assert.throws(() => locatePayload(image), { code: 'invalid-argument', message: /outside the file/ });
    });

    it('rejects a payload of unknown compression', () => {
      assert.throws(() => locatePayload(makeBzImage(Buffer.from('not compressed at all'))), {
        code: 'invalid-argument',
        message: /unknown compression/,
      });
    });

    it('leaves the size trailer that kbuild appends out of the stream, except for gzip', () => {
      const xzImage = makeBzImage(Buffer.concat([Buffer.from([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0]), Buffer.alloc(10)]));
      assert.equal(compressedStream(xzImage, locatePayload(xzImage)).length, 12);
      const gzipImage = makeBzImage(kernelPayload(fakeVmlinux(), 'gzip'));
      const gzipPayload = locatePayload(gzipImage);
      assert.equal(compressedStream(gzipImage, gzipPayload).length, gzipPayload.length);
    });
  });

  describe('extractVmlinux', () => {
    for (const compression of COMPRESSIONS) {
      it(`extracts a ${compression} payload`, async function () {
        if (!toolAvailable(compression)) this.skip();
        const payload = kernelPayload(fakeVmlinux(), compression);
        assert.equal(detectCompression(payload), compression);
        assert.deepEqual(await extractVmlinux(makeBzImage(payload)), fakeVmlinux());
      });
    }

    it('rejects a payload that is not an ELF', async () => {
      const image = makeBzImage(kernelPayload(Buffer.from('plain text, no ELF'), 'gzip'));
      await assert.rejects(extractVmlinux(image), { code: 'invalid-argument', message: /not an ELF/ });
    });

    it('extracts the ELF vmlinux from the installed Debian kernel', async function () {
      const newest = existsSync('/boot') ? newestKernelFile(readdirSync('/boot')) : undefined;
      if (!newest) this.skip();
      this.timeout(30000);
      assert.ok(isElf(await extractVmlinux(readFileSync(`/boot/${newest}`))));
    });
  });
});
