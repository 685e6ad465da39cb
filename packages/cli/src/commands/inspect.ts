import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { type EventRecord, evaluateOutputs } from '@weft/engine';
import type { Command } from 'commander';
import { UsageError } from '../output.js';
import { eventLine } from '../render.js';
import { deploymentFor, openState, type StateOptions, stateOptions, workDir } from '../state.js';

type Flags = StateOptions & { json?: boolean };

const common = (command: Command, json = 'print JSON') =>
  stateOptions(
    command
      .option('-d, --deployment-id <ID>', 'the deployment (may be left out when there is only one)')
      .option('--json', json),
  );

function print(json: boolean | undefined, data: unknown, text: () => string): void {
  process.stdout.write(json ? `${JSON.stringify(data, null, 2)}\n` : text());
}

export function inspectCommands(program: Command): void {
  common(program.command('outputs').description("a deployment's outputs, evaluated from its stored state"))
    .addHelpText('after', '\nExamples:\n  weft outputs\n  weft outputs -d prod --json')
    .action(async (flags: Flags) => {
      const state = await openState(flags);
      try {
        const id = await deploymentFor(state.store, flags.deploymentId);
        const outputs = await evaluateOutputs(state.store, id, await state.secrets.all());
        print(flags.json, outputs, () =>
          Object.entries(outputs)
            .map(([k, v]) => `${k}: ${JSON.stringify(v)}\n`)
            .join(''),
        );
      } finally {
        await state.close();
      }
    });

  common(program.command('instances').description('node instances with their state and runtime properties'))
    .addHelpText('after', "\nExamples:\n  weft instances\n  weft instances --json | jq '.[] | {id, state}'")
    .action(async (flags: Flags) => {
      const state = await openState(flags);
      try {
        const id = await deploymentFor(state.store, flags.deploymentId);
        const instances = await state.store.listInstances(id);
        print(flags.json, instances, () =>
          instances
            .map(
              (i) =>
                `${i.id}  ${i.state}${Object.keys(i.runtimeProperties).length ? `  ${JSON.stringify(i.runtimeProperties)}` : ''}\n`,
            )
            .join(''),
        );
      } finally {
        await state.close();
      }
    });

  common(program.command('executions').description("a deployment's executions"))
    .addHelpText('after', '\nExamples:\n  weft executions\n  weft executions -d prod --json')
    .action(async (flags: Flags) => {
      const state = await openState(flags);
      try {
        const id = await deploymentFor(state.store, flags.deploymentId);
        const executions = await state.store.listExecutions(id);
        print(flags.json, executions, () =>
          executions
            .map(
              (e) =>
                `${e.id}  ${e.workflow.padEnd(18)} ${e.status.padEnd(11)} ${e.createdAt}${e.endedAt ? ` .. ${e.endedAt}` : ''}\n`,
            )
            .join(''),
        );
      } finally {
        await state.close();
      }
    });

  common(
    program
      .command('events')
      .description('stored events and logs; --follow waits for new ones until the execution ends')
      .option('-e, --execution <ID>', 'only this execution (default: the latest)')
      .option('--follow', 'keep printing new events until the execution ends'),
    'print one JSON object a line (JSON Lines), so that --follow can stream them',
  )
    .addHelpText(
      'after',
      '\nExamples:\n  weft events --follow\n  weft events -e EXECUTION_ID --json   (one JSON object a line)',
    )
    .action(async (flags: Flags & { execution?: string; follow?: boolean }) => {
      const state = await openState(flags);
      try {
        let executionId = flags.execution;
        if (!executionId) {
          const id = await deploymentFor(state.store, flags.deploymentId);
          executionId = (await state.store.listExecutions(id)).pop()?.id;
          if (!executionId) throw new UsageError(`deployment '${id}' has no executions yet`);
        }
        const execution = await state.store.getExecution(executionId);
        if (!execution) throw new UsageError(`no execution '${executionId}'`);
        let after = 0;
        const emit = (events: EventRecord[]) => {
          for (const e of events)
            process.stdout.write(flags.json ? `${JSON.stringify(e)}\n` : `${eventLine(e)}\n`);
          if (events.length > 0) after = events[events.length - 1]!.seq ?? after;
        };
        emit(await state.store.listEvents({ executionId, afterSeq: after }));
        while (flags.follow) {
          const current = await state.store.getExecution(executionId);
          const more = await state.store.listEvents({ executionId, afterSeq: after });
          emit(more);
          if (
            current &&
            !['pending', 'started', 'cancelling', 'force_cancelling'].includes(current.status) &&
            more.length === 0
          )
            break;
          await new Promise((r) => setTimeout(r, 200));
        }
      } finally {
        await state.close();
      }
    });

  const deployments = program
    .command('deployments')
    .description('list deployments, or delete one with everything stored for it')
    .addHelpText(
      'after',
      '\nExamples:\n  weft deployments\n  weft deployments list --json\n  weft deployments delete old-test',
    );
  common(deployments.command('list', { isDefault: true }).description('list deployments')).action(
    async (flags: Flags) => {
      const state = await openState(flags);
      try {
        const all = await state.store.listDeployments();
        print(
          flags.json,
          all.map(({ model: _m, ...d }) => d),
          () => all.map((d) => `${d.id}  created ${d.createdAt}\n`).join(''),
        );
      } finally {
        await state.close();
      }
    },
  );
  common(
    deployments
      .command('delete')
      .description('delete a deployment and its stored state')
      .argument('<id>', 'the deployment id'),
  ).action(async (id: string, flags: Flags) => {
    const state = await openState(flags);
    try {
      if (!(await state.store.getDeployment(id))) throw new UsageError(`no deployment '${id}'`);
      const active = (await state.store.listExecutions(id)).find((e) =>
        ['pending', 'started', 'cancelling', 'force_cancelling'].includes(e.status),
      );
      if (active)
        throw new UsageError(
          `deployment '${id}' has a running execution ${active.id} (${active.workflow}); cancel it first`,
        );
      await state.store.deleteDeployment(id);
      rmSync(join(workDir(state.dir), id), { recursive: true, force: true });
      print(flags.json, { deleted: id }, () => `Deployment '${id}' deleted\n`);
    } finally {
      await state.close();
    }
  });
}
