/**
 * Undo steps collected while something is being built, run newest first. Every step runs even
 * when an earlier one fails, so a half-started sandbox leaves nothing behind.
 */
export class CleanupStack {
  private readonly steps: { what: string; undo: () => Promise<void> | void }[] = [];

  push(what: string, undo: () => Promise<void> | void): void {
    this.steps.push({ what, undo });
  }

  async run(): Promise<Error[]> {
    const failures: Error[] = [];
    for (let step = this.steps.pop(); step; step = this.steps.pop()) {
      try {
        await step.undo();
      } catch (error) {
        failures.push(new Error(`cleanup (${step.what}): ${(error as Error).message}`));
      }
    }
    return failures;
  }
}
