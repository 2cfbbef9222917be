// User errors (bad input, unreachable remote, rejected push) carry an exit code and a fix, and are
// printed without a stack trace. Anything else is a bug in llmstack and is printed with one.

export const EXIT = {
  ok: 0,
  /** A bug in llmstack, and nothing else. */
  internal: 1,
  /** Usage or input: an unknown command or flag, a bad flag value, a spec or kubeconfig that is wrong. */
  invalidInput: 2,
  /** Git remote unreachable, authentication refused, push rejected after retries. */
  git: 3,
  /** `diff` found differences, `validate` found invalid objects, `status` found a cluster not Ready (for scripts). */
  changes: 4,
  /** The cluster: API server unreachable, credentials or request refused, llmstack's CRD not installed, leadership lost. */
  cluster: 5,
} as const;

export type ExitCode = (typeof EXIT)[keyof typeof EXIT];

/** One line per code, for `llmstack --help`. */
export const EXIT_MEANINGS: Record<ExitCode, string> = {
  0: 'success',
  1: 'a bug in llmstack (please report it)',
  2: 'usage or input: unknown command or flag, bad flag value, invalid spec or kubeconfig',
  3: 'Git: remote unreachable, credentials refused, push rejected',
  4: 'differences (diff), invalid objects (validate), a cluster not Ready (status), a Secret missing (secrets, status)',
  5: 'the cluster: API server unreachable, request refused, CRD missing, leader lease lost',
};

/**
 * The codes each command exits with besides 1 (a bug). README.md's command table shows the same, and a
 * test runs every command into every code listed here.
 */
export const COMMAND_EXITS = {
  init: [EXIT.ok, EXIT.invalidInput],
  generate: [EXIT.ok, EXIT.invalidInput, EXIT.git],
  diff: [EXIT.ok, EXIT.invalidInput, EXIT.git, EXIT.changes],
  validate: [EXIT.ok, EXIT.invalidInput, EXIT.changes, EXIT.cluster],
  status: [EXIT.ok, EXIT.invalidInput, EXIT.changes, EXIT.cluster],
  secrets: [EXIT.ok, EXIT.invalidInput, EXIT.changes, EXIT.cluster],
  controller: [EXIT.ok, EXIT.invalidInput, EXIT.cluster],
  schema: [EXIT.ok, EXIT.invalidInput],
} as const satisfies Record<string, readonly ExitCode[]>;

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
