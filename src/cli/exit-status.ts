/**
 * A command's exit status travels as its action's return value, not through `process.exitCode`: `kiln run` and
 * `kiln exec` return their container's status, every other command returns nothing (0) or throws a coded error.
 * The resident builder runs many invocations in one process, so the status belongs to the invocation's program.
 */
import { Command } from 'commander';

/** What an action may return: an exit status, or nothing for success. */
export type ActionResult = number | void;

/** A program whose subcommands record their action's returned status on it (`exitStatus`, read by main()). */
export class StatusCommand extends Command {
  /** The status the last action returned; undefined when none returned one. */
  exitStatus: number | undefined;

  override createCommand(name?: string): StatusCommand {
    return new StatusCommand(name);
  }

  override action(fn: (this: this, ...args: any[]) => ActionResult | Promise<ActionResult>): this {
    return super.action(async (...args: any[]) => {
      const status = await fn.apply(this, args);
      if (typeof status === 'number') this.invocationRoot().exitStatus = status;
    });
  }

  private invocationRoot(): StatusCommand {
    let top: Command = this;
    while (top.parent) top = top.parent;
    return top as StatusCommand;
  }
}
