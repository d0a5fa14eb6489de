/**
 * The boot script of a GPU worker instance, as plain text so that it can be read and tested
 * without synthesising a stack. It installs Node.js 22 and the CloudWatch agent, fetches the worker
 * code from S3, installs it with onnxruntime-node's CUDA 12 binaries, and runs `apparate worker` as
 * a systemd service that re-syncs the bundle from S3 before every (re)start. Values may be CDK
 * tokens; CloudFormation fills them in at deploy time.
 */

/** Where things live on the instance. */
export const WORKER_PATHS = {
  app: '/opt/apparate/app',
  bundle: '/opt/apparate/bundle',
  environmentFile: '/etc/apparate/worker.env',
  unit: '/etc/systemd/system/apparate-worker.service',
  logDir: '/var/log/apparate',
  /** stderr: the worker's structured JSON log lines. */
  workerLog: '/var/log/apparate/worker.log',
  /** stdout: one embedded-metric-format line per period, turned into metrics by CloudWatch Logs. */
  metricsLog: '/var/log/apparate/metrics.log',
  agentConfig: '/opt/aws/amazon-cloudwatch-agent/etc/apparate.json',
  drainScript: '/usr/local/bin/apparate-drain',
  drainUnit: '/etc/systemd/system/apparate-drain.service',
} as const;

/** The name of every worker group's termination lifecycle hook, which the drain script completes. */
export const DRAIN_HOOK_NAME = 'apparate-drain';

/** The systemd service's name, for `journalctl -u` and `systemctl status` over SSM. */
export const WORKER_SERVICE = 'apparate-worker';

/** Node.js major version the worker runs on, matching the Lambda functions' runtime. */
export const WORKER_NODE_MAJOR = 22;

export interface WorkerUserDataSettings {
  /** The stack's region. */
  readonly region: string;
  /** The zipped worker sources (a CDK file asset). */
  readonly codeBucket: string;
  readonly codeKey: string;
  /** Environment of the worker process: the `ENV.*` names from cloud-names.ts and their values. */
  readonly environment: Readonly<Record<string, string>>;
  /** Environment variable (a key of `environment`) holding the request queue's URL. */
  readonly queueUrlVariable: string;
  /** Environment variable holding the dead-letter queue's URL. */
  readonly deadLetterUrlVariable: string;
  /** Environment variable holding the bundle bucket's name. */
  readonly bucketVariable: string;
  /** Environment variable holding the bundle key prefix (ending in `/`). */
  readonly bundlePrefixVariable: string;
  /** Environment variable holding the model name. */
  readonly modelVariable: string;
  /**
   * Environment variable holding the accuracy constraint, so that the worker's local guard holds the
   * same constraint the controller tunes to (otherwise the two pull thresholds in opposite ways).
   */
  readonly accuracyConstraintVariable: string;
  /** `--table-prefix` of the worker: tables are `<prefix>-results` and so on. */
  readonly tablePrefix: string;
  /** Log group the CloudWatch agent ships the worker's log files to. */
  readonly logGroupName: string;
}

/**
 * The worker's command line. `--emf` makes it write embedded-metric-format lines to stdout, which
 * the unit sends to `metrics.log`; `${NAME}` is expanded by systemd from the environment file.
 */
export function workerCommand(settings: WorkerUserDataSettings): string {
  return [
    '/usr/bin/node',
    `${WORKER_PATHS.app}/bin/apparate.js`,
    'worker',
    `--bundle ${WORKER_PATHS.bundle}`,
    '--queue sqs',
    `--queue-name \${${settings.queueUrlVariable}}`,
    `--dead-letter-url \${${settings.deadLetterUrlVariable}}`,
    `--table-prefix ${settings.tablePrefix}`,
    `--accuracy-constraint \${${settings.accuracyConstraintVariable}}`,
    '--execution-provider cuda',
    '--emf',
  ].join(' ');
}

/** The systemd unit: restarts forever (a bundle uploaded late is picked up on the next start). */
export function workerUnit(settings: WorkerUserDataSettings): string {
  const source = `s3://\${${settings.bucketVariable}}/\${${settings.bundlePrefixVariable}}\${${settings.modelVariable}}/`;
  return [
    '[Unit]',
    'Description=Apparate GPU worker',
    'After=network-online.target',
    'Wants=network-online.target',
    '',
    '[Service]',
    'Type=simple',
    'User=apparate',
    `EnvironmentFile=${WORKER_PATHS.environmentFile}`,
    `ExecStartPre=/usr/bin/env aws s3 sync --delete --only-show-errors ${source} ${WORKER_PATHS.bundle}`,
    `ExecStart=${workerCommand(settings)}`,
    'Restart=always',
    'RestartSec=15',
    'KillSignal=SIGTERM',
    'TimeoutStopSec=60',
    `StandardOutput=append:${WORKER_PATHS.metricsLog}`,
    `StandardError=append:${WORKER_PATHS.workerLog}`,
    '',
    '[Install]',
    'WantedBy=multi-user.target',
  ].join('\n');
}

/** CloudWatch agent configuration: ship the worker's logs (and the boot log) to one log group. */
export function agentConfig(settings: WorkerUserDataSettings): string {
  const stream = (file: string, name: string) => ({
    file_path: file,
    log_group_name: settings.logGroupName,
    log_stream_name: `{instance_id}/${name}`,
  });
  return JSON.stringify(
    {
      agent: { run_as_user: 'root' },
      logs: {
        logs_collected: {
          files: {
            collect_list: [
              stream(WORKER_PATHS.workerLog, 'worker'),
              stream(WORKER_PATHS.metricsLog, 'metrics'),
              stream('/var/log/cloud-init-output.log', 'boot'),
            ],
          },
        },
      },
    },
    undefined,
    2,
  );
}

/** `KEY=value` lines for systemd's EnvironmentFile. */
function environmentFile(environment: Readonly<Record<string, string>>, region: string): string {
  const lines = Object.entries({ ...environment, AWS_REGION: region, NODE_ENV: 'production' }).map(
    ([name, value]) => `${name}=${value}`,
  );
  return lines.join('\n');
}

/**
 * The whole boot script as lines for `UserData.addCommands`. It runs once, as root, at first boot;
 * every step is idempotent so a rerun (by hand over SSM) repairs a half-finished boot.
 */
export function workerUserDataCommands(settings: WorkerUserDataSettings): string[] {
  const { region } = settings;
  return [
    'set -euxo pipefail',
    'export DEBIAN_FRONTEND=noninteractive HOME=/root',
    // Node.js from NodeSource's apt repository, unless the right major is already there.
    `if ! node --version 2>/dev/null | grep -q '^v${WORKER_NODE_MAJOR}\\.'; then`,
    `  curl -fsSL https://deb.nodesource.com/setup_${WORKER_NODE_MAJOR}.x | bash -`,
    '  apt-get install -y nodejs',
    'fi',
    // The AWS CLI fetches the code and the bundle; the deep-learning AMI ships it, older images may not.
    'if ! command -v aws >/dev/null; then',
    '  curl -fsSL https://awscli.amazonaws.com/awscli-exe-linux-x86_64.zip -o /tmp/awscli.zip',
    '  python3 -m zipfile -e /tmp/awscli.zip /tmp/awscli && chmod -R +x /tmp/awscli/aws && /tmp/awscli/aws/install --update',
    'fi',
    // The CloudWatch agent ships the worker's logs; CloudWatch Logs turns its EMF lines into metrics.
    `curl -fsSL -o /tmp/amazon-cloudwatch-agent.deb https://amazoncloudwatch-agent-${region}.s3.${region}.amazonaws.com/ubuntu/amd64/latest/amazon-cloudwatch-agent.deb`,
    'dpkg -i -E /tmp/amazon-cloudwatch-agent.deb',
    `mkdir -p ${WORKER_PATHS.logDir} /etc/apparate ${WORKER_PATHS.app} ${WORKER_PATHS.bundle}`,
    `cat > ${WORKER_PATHS.agentConfig} <<'APPARATE_EOF'`,
    agentConfig(settings),
    'APPARATE_EOF',
    `/opt/aws/amazon-cloudwatch-agent/bin/amazon-cloudwatch-agent-ctl -a fetch-config -m ec2 -s -c file:${WORKER_PATHS.agentConfig}`,
    // The worker's code, installed with onnxruntime-node's CUDA 12 execution provider (its install
    // script fetches those binaries, so install scripts must run here, unlike on a development machine).
    'id apparate >/dev/null 2>&1 || useradd --system --home-dir /opt/apparate --shell /usr/sbin/nologin apparate',
    `aws s3 cp --region ${region} --only-show-errors s3://${settings.codeBucket}/${settings.codeKey} /tmp/apparate-worker.zip`,
    `rm -rf ${WORKER_PATHS.app} && mkdir -p ${WORKER_PATHS.app}`,
    `python3 -m zipfile -e /tmp/apparate-worker.zip ${WORKER_PATHS.app}`,
    `cd ${WORKER_PATHS.app} && npm ci --omit=dev --no-audit --no-fund --ignore-scripts=false --onnxruntime-node-install=cuda12`,
    `chown -R apparate:apparate /opt/apparate ${WORKER_PATHS.logDir}`,
    `cat > ${WORKER_PATHS.environmentFile} <<'APPARATE_EOF'`,
    environmentFile(settings.environment, region),
    'APPARATE_EOF',
    `cat > ${WORKER_PATHS.unit} <<'APPARATE_EOF'`,
    workerUnit(settings),
    'APPARATE_EOF',
    `cat > ${WORKER_PATHS.drainScript} <<'APPARATE_EOF'`,
    drainScript(region),
    'APPARATE_EOF',
    `chmod 755 ${WORKER_PATHS.drainScript}`,
    `cat > ${WORKER_PATHS.drainUnit} <<'APPARATE_EOF'`,
    drainUnit(),
    'APPARATE_EOF',
    'systemctl daemon-reload',
    `systemctl enable --now ${WORKER_SERVICE}.service apparate-drain.service`,
  ];
}

/**
 * Drains the worker before its instance terminates. Scale-in puts the instance in
 * Terminating:Wait (the group's lifecycle hook); the script sees that in the instance metadata's
 * target lifecycle state, stops the worker (SIGTERM: it receives nothing more, finishes and
 * acknowledges the batch in flight, and hands the requests it held back to the queue), then
 * completes the hook so the termination goes on. The group's name comes from the instance's own
 * tags (metadata tags are on), since the launch template cannot name the group that uses it.
 */
export function drainScript(region: string): string {
  const imds = 'http://169.254.169.254/latest';
  return [
    '#!/bin/bash',
    'set -u',
    'while true; do',
    `  token=$(curl -fsS -X PUT ${imds}/api/token -H 'X-aws-ec2-metadata-token-ttl-seconds: 300') || { sleep 5; continue; }`,
    `  meta() { curl -fsS -H "X-aws-ec2-metadata-token: $token" "${imds}/meta-data/$1"; }`,
    '  if [ "$(meta autoscaling/target-lifecycle-state || true)" = "Terminated" ]; then',
    `    systemctl stop ${WORKER_SERVICE}.service`,
    `    aws autoscaling complete-lifecycle-action --region ${region} --lifecycle-hook-name ${DRAIN_HOOK_NAME} \\`,
    '      --auto-scaling-group-name "$(meta tags/instance/aws:autoscaling:groupName)" \\',
    '      --instance-id "$(meta instance-id)" --lifecycle-action-result CONTINUE',
    '    exit 0',
    '  fi',
    '  sleep 5',
    'done',
  ].join('\n');
}

/** The drain watcher's unit: runs as root (it stops the worker), restarted if it ever fails. */
export function drainUnit(): string {
  return [
    '[Unit]',
    'Description=Apparate worker drain on scale-in',
    'After=network-online.target',
    '',
    '[Service]',
    'Type=simple',
    `ExecStart=${WORKER_PATHS.drainScript}`,
    'Restart=on-failure',
    'RestartSec=5',
    '',
    '[Install]',
    'WantedBy=multi-user.target',
  ].join('\n');
}
