import { type Command, Option } from 'commander';
import { errorMessage } from '../core/errors.js';
import { runDemo } from '../demo/run-demo.js';
import { TRAFFIC_SHIFTS, type TrafficShift } from '../demo/traffic.js';
import { LOG_FORMAT_ENV } from '../observability/logger.js';

interface DemoFlags {
  customers: string;
  seconds: string;
  rate: string;
  workers: string;
  shift?: TrafficShift;
}

export function registerDemo(program: Command): void {
  program
    .command('demo')
    .description(
      'The CRM churn story on the local stack: seed, backfill, stream with a worker fleet (shadow report, then a promotion and a rollback timed while traffic flows), summary.',
    )
    .option('--customers <n>', 'customers to seed', '10000')
    .option(
      '--seconds <n>',
      'seconds of CRM traffic (lengthened if the promotion and rollback need it)',
      '30',
    )
    .option('--rate <n>', 'CRM changes per second', '200')
    .option('--workers <n>', 'worker processes', '2')
    .addOption(
      new Option(
        '--shift <kind>',
        "inject a drift into the CRM traffic: plan-renamed (basic → 'starter') or tickets-doubled; `streamscore drift` then shows the alarm",
      ).choices(TRAFFIC_SHIFTS),
    )
    .addHelpText(
      'after',
      '\nRun it through `make demo`, which starts the stack first.\n\nExample:\n  $ streamscore demo --seconds 10',
    )
    .action(async (flags: DemoFlags, cmd: Command) => {
      // The story is for people, piped to a file or not: its steps' logs are pretty lines unless
      // --log-format says otherwise (they inherit the environment).
      if (cmd.optsWithGlobals<{ logFormat?: string }>().logFormat === undefined)
        process.env[LOG_FORMAT_ENV] = 'pretty';
      const env = (name: string, fallback: string) => process.env[name] ?? fallback;
      try {
        await runDemo({
          customers: Number(flags.customers),
          seconds: Number(flags.seconds),
          rate: Number(flags.rate),
          workers: Number(flags.workers),
          shift: flags.shift,
          env: {
            kafkaBrokers: env('KAFKA_BROKERS', '127.0.0.1:19092'),
            databaseUrl: env('DATABASE_URL', 'postgres://postgres@127.0.0.1:15432/streamscore'),
            connectUrl: env('KAFKA_CONNECT_URL', 'http://127.0.0.1:18083'),
            registryUrl: env('SCHEMA_REGISTRY_URL', 'http://127.0.0.1:18081/apis/ccompat/v7'),
            prometheusUrl: process.env['PROMETHEUS_URL'],
          },
          cli: { node: process.execPath, args: [...process.execArgv, process.argv[1]!] },
          out: (line) => process.stdout.write(`${line}\n`),
        });
        process.stdout.write('\ndemo finished: the stack is still running.\n');
      } catch (err) {
        process.stderr.write(`\nstreamscore demo failed: ${errorMessage(err)}\n`);
        process.exitCode = 1;
      }
    });
}
