import { Flags } from '@oclif/core';
import { RunvCommand } from '../cli/runv-command';
import { LifecycleService } from '../lifecycle/lifecycle-service';
import { OciState, toOciState } from '../lifecycle/oci-state';

export default class List extends RunvCommand<typeof List> {
  static override summary = 'List the containers under --root.';
  static override flags = {
    quiet: Flags.boolean({ char: 'q', summary: 'Print the ids only.' }),
    format: Flags.string({ char: 'f', summary: 'Output format.', options: ['table', 'json'], default: 'table' }),
  };

  async run(): Promise<void> {
    const states = (await this.container.get(LifecycleService).list()).map(toOciState);
    if (this.flags.quiet) process.stdout.write(states.map((s) => `${s.id}\n`).join(''));
    else if (this.flags.format === 'json') process.stdout.write(JSON.stringify(states) + '\n');
    else process.stdout.write(table(['ID', 'PID', 'STATUS', 'BUNDLE', 'CREATED', 'OWNER'], states.map(row)));
  }
}

function row(state: OciState): string[] {
  return [state.id, String(state.pid), state.status, state.bundle, state.created, state.owner];
}

/** Columns padded to their widest cell, as runc's tabwriter prints them. */
export function table(header: string[], rows: string[][]): string {
  const all = [header, ...rows];
  const widths = header.map((_, column) => Math.max(...all.map((cells) => cells[column].length)));
  return all.map((cells) => cells.map((cell, column) => (column === cells.length - 1 ? cell : cell.padEnd(widths[column] + 3))).join('') + '\n').join('');
}
