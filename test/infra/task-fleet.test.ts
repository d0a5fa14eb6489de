/**
 * A task on AWS: three variant deployments with planned capacity and the task's fleet controller,
 * synthesised with the cdk-nag AwsSolutions rules. The template must give each variant its own
 * worker group with no scaling policy of its own and a drain hook, and the controller exactly the
 * permission to set those groups' capacity.
 */
import { join } from 'node:path';
import { App, Stack, Validations } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import { AwsSolutionsChecks } from 'cdk-nag';
import { ENV } from '../../core/deployment/cloud-names';
import { ApparateServing } from '../../infra/apparate-serving';
import { TaskFleet } from '../../infra/task-fleet';
import { DRAIN_HOOK_NAME } from '../../infra/worker-user-data';
import { allowedActionsByResource, logicalId } from './template-queries';

const STUB = join(__dirname, 'fixtures', 'stub-handler.ts');
const ENTRIES = { ingest: STUB, result: STUB, controller: STUB };
const VARIANTS = ['mnist-resnet', 'mnist-resnet-medium', 'mnist-resnet-small'];

let stack: Stack;
let servings: ApparateServing[];
let fleet: TaskFleet;
let template: Template;
let synthError: unknown;
const validationSetting = process.env['CDK_VALIDATION'];

beforeAll(() => {
  process.env['CDK_VALIDATION'] = 'false';
  const app = new App();
  Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
  stack = new Stack(app, 'Digits');
  const vpc = new ec2.Vpc(stack, 'Vpc', { maxAzs: 2, natGateways: 1, flowLogs: { all: {} } });
  servings = VARIANTS.map(
    (modelName, i) =>
      new ApparateServing(stack, `Variant${i}`, {
        modelName,
        vpc,
        minWorkers: 0,
        maxWorkers: 8,
        workerCapacity: 'planned',
        functionEntries: ENTRIES,
      }),
  );
  fleet = new TaskFleet(stack, 'DigitsFleet', {
    task: 'digits',
    variants: servings,
    maxWorkers: 24,
    functionEntry: STUB,
  });
  try {
    app.synth();
  } catch (error) {
    synthError = error;
  }
  template = Template.fromStack(stack);
});

afterAll(() => {
  if (validationSetting === undefined) delete process.env['CDK_VALIDATION'];
  else process.env['CDK_VALIDATION'] = validationSetting;
});

const groupArn = (serving: ApparateServing) =>
  `arn:{AWS::Partition}:autoscaling:{AWS::Region}:{AWS::AccountId}:autoScalingGroup:*:autoScalingGroupName/{${logicalId(serving.workers.autoScalingGroup)}}`;

describe('a task fleet on AWS', () => {
  it('passes the cdk-nag AwsSolutions rules', () => {
    expect(synthError).toBeUndefined();
  });

  it('gives each variant its own worker group, sized by the plan rather than by a scaling policy', () => {
    template.resourceCountIs('AWS::AutoScaling::AutoScalingGroup', VARIANTS.length);
    template.resourceCountIs('AWS::AutoScaling::ScalingPolicy', 0);
    for (const serving of servings) {
      const group = template.findResources('AWS::AutoScaling::AutoScalingGroup')[
        logicalId(serving.workers.autoScalingGroup)
      ] as { Properties: Record<string, unknown> };
      expect(group.Properties).toMatchObject({ MinSize: '0', MaxSize: '8' });
    }
    // The controller knows each variant's group and exit logs, and where to publish the plans.
    const variants = template.findResources('AWS::Lambda::Function', {
      Properties: { Environment: { Variables: { [ENV.task]: 'digits' } } },
    });
    expect(Object.keys(variants)).toHaveLength(1);
    const env = (
      Object.values(variants)[0] as { Properties: { Environment: { Variables: Record<string, unknown> } } }
    ).Properties.Environment.Variables;
    expect(env[ENV.maxWorkers]).toBe('24');
    expect(JSON.stringify(env[ENV.fleetVariants])).toEqual(expect.stringContaining('mnist-resnet-small'));
  });

  it('holds every leaving worker in a drain hook that its instance completes for its own group only', () => {
    template.resourceCountIs('AWS::AutoScaling::LifecycleHook', VARIANTS.length);
    for (const serving of servings) {
      template.hasResourceProperties('AWS::AutoScaling::LifecycleHook', {
        AutoScalingGroupName: { Ref: logicalId(serving.workers.autoScalingGroup) },
        LifecycleHookName: DRAIN_HOOK_NAME,
        LifecycleTransition: 'autoscaling:EC2_INSTANCE_TERMINATING',
        HeartbeatTimeout: 180,
        DefaultResult: 'CONTINUE',
      });
      const worker = allowedActionsByResource(template, logicalId(serving.workers.role));
      expect(worker[groupArn(serving)]).toEqual(['autoscaling:CompleteLifecycleAction']);
      for (const other of servings.filter((s) => s !== serving))
        expect(worker[groupArn(other)]).toBeUndefined();
    }
    template.hasResourceProperties('AWS::EC2::LaunchTemplate', {
      LaunchTemplateData: Match.objectLike({
        MetadataOptions: Match.objectLike({ InstanceMetadataTags: 'enabled' }),
      }),
    });
  });

  it("lets the controller set exactly the variants' group capacities, and read their loads", () => {
    const allowed = allowedActionsByResource(template, logicalId(fleet.controller.role));
    const autoscaling = Object.entries(allowed).filter(([, actions]) =>
      actions.some((a) => a.startsWith('autoscaling:')),
    );
    expect(Object.fromEntries(autoscaling)).toEqual(
      Object.fromEntries(servings.map((s) => [groupArn(s), ['autoscaling:SetDesiredCapacity']])),
    );
    expect(Object.keys(allowed)).not.toContain('*');
    // Plans: the first variant's configs table; loads: every variant's exit logs, read only.
    expect(allowed[logicalId(servings[0]!.stores.tables.configs)]).toEqual(
      expect.arrayContaining(['dynamodb:PutItem', 'dynamodb:Query', 'dynamodb:UpdateItem']),
    );
    for (const serving of servings) {
      const exitLogs = allowed[logicalId(serving.stores.tables.exitLogs)] ?? [];
      expect(exitLogs).toContain('dynamodb:Query');
      expect(exitLogs.some((a) => /Put|Update|Delete|Write/.test(a))).toBe(false);
    }
    template.hasResourceProperties('AWS::Events::Rule', {
      ScheduleExpression: 'rate(1 minute)',
      Targets: [Match.objectLike({ Arn: { 'Fn::GetAtt': [logicalId(fleet.controller.function), 'Arn'] } })],
    });
  });

  it('refuses variants that scale themselves, and a bad task name', () => {
    const app = new App();
    const other = new Stack(app, 'Other');
    const vpc = new ec2.Vpc(other, 'Vpc', { maxAzs: 2, natGateways: 1 });
    const selfScaling = new ApparateServing(other, 'V', {
      modelName: 'mnist-resnet',
      vpc,
      functionEntries: ENTRIES,
    });
    expect(
      () =>
        new TaskFleet(other, 'F', {
          task: 'digits',
          variants: [selfScaling],
          maxWorkers: 4,
          functionEntry: STUB,
        }),
    ).toThrow(/workerCapacity: 'planned'.*mnist-resnet/);
    expect(
      () =>
        new TaskFleet(other, 'G', {
          task: 'Digits!',
          variants: [selfScaling],
          maxWorkers: 4,
          functionEntry: STUB,
        }),
    ).toThrow(/task "Digits!"/);
  });
});
