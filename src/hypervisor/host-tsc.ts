import * as fs from 'node:fs';

/** The host CPU's rate in kHz from /proc/cpuinfo, or undefined where it does not say. */
export function hostTscKhz(cpuinfo = '/proc/cpuinfo'): number | undefined {
  let text: string;
  try {
    text = fs.readFileSync(cpuinfo, 'utf8');
  } catch {
    return undefined;
  }
  const mhz = /^cpu MHz\s*:\s*([\d.]+)/m.exec(text);
  return mhz ? Math.round(Number(mhz[1]) * 1000) : undefined;
}
