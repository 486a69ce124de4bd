import { RunvError } from './errors';

const ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9_.-]*$/;
/** Keeps `runv-<id>` within what libvirt and the state directory accept. */
const MAX_ID_LENGTH = 128;

export function validateContainerId(id: string): string {
  if (!ID_PATTERN.test(id) || id.length > MAX_ID_LENGTH) {
    throw new RunvError('invalid-argument', `invalid container id ${JSON.stringify(id)}: use letters, digits, '_', '.' and '-', starting with a letter or digit (at most ${MAX_ID_LENGTH})`);
  }
  return id;
}
