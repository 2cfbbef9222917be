// User errors (bad input, unreachable remote, rejected push) carry an exit code and a fix, and are
// printed without a stack trace. Anything else is a bug in llmstack and is printed with one.

export const EXIT = {
  ok: 0,
  /** Bug or unexpected failure. */
  internal: 1,
  /** The spec or a flag is wrong. */
  invalidInput: 2,
  /** Git remote unreachable, authentication refused, push rejected after retries. */
  git: 3,
  /** `diff` found differences, `validate` found invalid objects (for scripts). */
  changes: 4,
} as const;

export class UserError extends Error {
  constructor(
    message: string,
    readonly exitCode: number = EXIT.invalidInput,
    readonly fix?: string,
  ) {
    super(message);
    this.name = 'UserError';
  }

  render(): string {
    return this.fix ? `${this.message}\n  fix: ${this.fix}` : this.message;
  }
}

export interface SpecIssue {
  file: string;
  /** 1-based, when the YAML node could be located. */
  line?: number;
  column?: number;
  /** Dotted field path such as spec.clusters[0].nodePools[1].autoscaling.min */
  path: string;
  message: string;
  fix?: string;
}

export function formatIssue(i: SpecIssue): string {
  const where = i.line ? `${i.file}:${i.line}:${i.column ?? 1}` : i.file;
  const head = `${where}: ${i.path || '(document)'}: ${i.message}`;
  return i.fix ? `${head}\n  fix: ${i.fix}` : head;
}

/** A spec that failed validation; lists every issue found, not only the first. */
export class SpecError extends UserError {
  constructor(readonly issues: SpecIssue[]) {
    super(
      `${issues[0]?.file ?? 'spec'}: ${issues.length} problem${issues.length === 1 ? '' : 's'} in the spec\n` +
        issues.map(formatIssue).join('\n'),
      EXIT.invalidInput,
    );
    this.name = 'SpecError';
  }

  override render(): string {
    return this.message;
  }
}
