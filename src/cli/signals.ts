import { constants } from 'node:os';
import { RunvError } from '../core/errors';

const BY_NAME: Readonly<Record<string, number>> = constants.signals;

/** A signal as runc's kill takes it: a number, or a name with or without SIG, in any case. */
export function parseSignal(text: string): number {
  if (/^\d+$/.test(text)) {
    const number = Number(text);
    if (number >= 1 && number <= 64) return number;
  } else {
    const name = text.toUpperCase();
    const number = BY_NAME[name.startsWith('SIG') ? name : `SIG${name}`];
    if (number !== undefined) return number;
  }
  throw new RunvError('invalid-argument', `invalid signal ${JSON.stringify(text)}: use a name such as TERM or KILL, or a number from 1 to 64`);
}
