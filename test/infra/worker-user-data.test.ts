import { execFileSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ENV } from '../../core/deployment/cloud-names';
import {
  DRAIN_HOOK_NAME,
  WORKER_PATHS,
  agentConfig,
  drainScript,
  workerCommand,
  workerUnit,
  workerUserDataCommands,
  type WorkerUserDataSettings,
} from '../../infra/worker-user-data';

const SETTINGS: WorkerUserDataSettings = {
  region: 'eu-west-1',
  codeBucket: 'cdk-assets-bucket',
  codeKey: 'abc123.zip',
  environment: {
    [ENV.model]: 'mnist-resnet',
    [ENV.queueUrl]: 'https://sqs.eu-west-1.amazonaws.com/123456789012/requests',
    [ENV.deadLetterQueueUrl]: 'https://sqs.eu-west-1.amazonaws.com/123456789012/dead',
    [ENV.bundleBucket]: 'bundles-bucket',
    [ENV.bundlePrefix]: 'bundles/',
    [ENV.accuracyConstraint]: '0.95',
  },
  queueUrlVariable: ENV.queueUrl,
  deadLetterUrlVariable: ENV.deadLetterQueueUrl,
  bucketVariable: ENV.bundleBucket,
  bundlePrefixVariable: ENV.bundlePrefix,
  modelVariable: ENV.model,
  accuracyConstraintVariable: ENV.accuracyConstraint,
  tablePrefix: 'apparate-mnist',
  logGroupName: '/apparate/workers',
};

describe('worker boot script', () => {
  it('runs the worker on SQS with CUDA, the tables, EMF metrics and the deployment’s accuracy constraint, reading them from the environment', () => {
    // When the command line is built
    const command = workerCommand(SETTINGS);

    // Then it serves the synced bundle from SQS with the CUDA provider, results in the prefixed tables
    expect(command).toBe(
      '/usr/bin/node /opt/apparate/app/bin/apparate.js worker --bundle /opt/apparate/bundle --queue sqs ' +
        '--queue-name ${APPARATE_QUEUE_URL} --dead-letter-url ${APPARATE_DLQ_URL} --table-prefix apparate-mnist ' +
        '--accuracy-constraint ${APPARATE_ACCURACY_CONSTRAINT} --execution-provider cuda --emf',
    );
  });

  it('re-syncs the bundle before every start and restarts the service forever', () => {
    // When the unit is written
    const unit = workerUnit(SETTINGS);

    // Then a late bundle upload is picked up by the next restart, and logs go to the shipped files
    expect(unit).toContain(
      'ExecStartPre=/usr/bin/env aws s3 sync --delete --only-show-errors s3://${APPARATE_BUNDLE_BUCKET}/${APPARATE_BUNDLE_PREFIX}${APPARATE_MODEL}/ /opt/apparate/bundle',
    );
    expect(unit).toContain('Restart=always');
    expect(unit).toContain(`EnvironmentFile=${WORKER_PATHS.environmentFile}`);
    expect(unit).toContain(`StandardOutput=append:${WORKER_PATHS.metricsLog}`);
    expect(unit).toContain(`StandardError=append:${WORKER_PATHS.workerLog}`);
    expect(unit).toContain('User=apparate');
  });

  it('ships the worker and metrics logs to the one log group, a stream per instance and file', () => {
    // When the agent configuration is written
    const config = JSON.parse(agentConfig(SETTINGS)) as {
      logs: { logs_collected: { files: { collect_list: Array<Record<string, string>> } } };
    };

    // Then each log file goes to the group under the instance's id
    expect(config.logs.logs_collected.files.collect_list).toEqual([
      {
        file_path: WORKER_PATHS.workerLog,
        log_group_name: '/apparate/workers',
        log_stream_name: '{instance_id}/worker',
      },
      {
        file_path: WORKER_PATHS.metricsLog,
        log_group_name: '/apparate/workers',
        log_stream_name: '{instance_id}/metrics',
      },
      {
        file_path: '/var/log/cloud-init-output.log',
        log_group_name: '/apparate/workers',
        log_stream_name: '{instance_id}/boot',
      },
    ]);
  });

  it('writes every environment variable and the region into the environment file', () => {
    // When the whole script is built
    const script = workerUserDataCommands(SETTINGS).join('\n');

    // Then each variable is one KEY=value line, with the region beside them
    for (const [name, value] of Object.entries(SETTINGS.environment)) {
      expect(script).toContain(`\n${name}=${value}\n`);
    }
    expect(script).toContain('\nAWS_REGION=eu-west-1\n');
    expect(script).toContain(
      'npm ci --omit=dev --no-audit --no-fund --ignore-scripts=false --onnxruntime-node-install=cuda12',
    );
    expect(script).toContain(
      'aws s3 cp --region eu-west-1 --only-show-errors s3://cdk-assets-bucket/abc123.zip',
    );
  });

  it('is a script bash accepts', () => {
    // Given the script as cloud-init runs it
    const dir = mkdtempSync(join(tmpdir(), 'apparate-user-data-'));
    const file = join(dir, 'user-data.sh');
    writeFileSync(file, ['#!/bin/bash', ...workerUserDataCommands(SETTINGS)].join('\n'));

    // When bash parses it without running it, then it reports no syntax error
    expect(() => execFileSync('bash', ['-n', file], { stdio: 'pipe' })).not.toThrow();
  });

  it("drains the worker on scale-in: stops it when the instance is leaving, then completes its group's drain hook", () => {
    // Given the drain script, as bash would run it, and the boot script that installs it
    const script = drainScript('eu-west-1');
    const dir = mkdtempSync(join(tmpdir(), 'apparate-drain-'));
    writeFileSync(join(dir, 'drain.sh'), script);
    expect(() => execFileSync('bash', ['-n', join(dir, 'drain.sh')], { stdio: 'pipe' })).not.toThrow();
    expect(workerUserDataCommands(SETTINGS).join('\n')).toContain(
      'systemctl enable --now apparate-worker.service apparate-drain.service',
    );

    // Then it waits for the Terminated target state, stops the worker (SIGTERM drains it) before it
    // completes the hook by name, for the group named in the instance's own tags
    const stop = script.indexOf('systemctl stop apparate-worker.service');
    const complete = script.indexOf('aws autoscaling complete-lifecycle-action');
    expect(script).toContain('autoscaling/target-lifecycle-state');
    expect(script).toContain('= "Terminated"');
    expect(stop).toBeGreaterThan(0);
    expect(complete).toBeGreaterThan(stop);
    expect(script).toContain(`--lifecycle-hook-name ${DRAIN_HOOK_NAME}`);
    expect(script).toContain('tags/instance/aws:autoscaling:groupName');
    expect(script).toContain('--lifecycle-action-result CONTINUE');
  });
});
