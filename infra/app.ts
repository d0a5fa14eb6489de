/**
 * The CDK app (`cdk.json` runs it): one stack serving one model, or with `-c task=<task>` one stack
 * serving a task (every variant, the fleet controller and the task's API), checked by the cdk-nag
 * AwsSolutions rules on every synthesis. The stack is environment-agnostic, so `cdk synth` needs
 * no AWS credentials and no lookups; `cdk deploy` takes the account and region from the profile.
 */
import { App, Stack, Validations } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import { ApparateServing } from './apparate-serving';
import { settingsFromContext, taskSettingsFromContext } from './app-context';
import { TaskServing } from './task-serving';

const app = new App();
const task = taskSettingsFromContext(app);
if (task === undefined) {
  const { stackName, props } = settingsFromContext(app);
  const stack = new Stack(app, stackName, {
    description: `Apparate early-exit inference serving for model ${props.modelName}`,
  });
  new ApparateServing(stack, 'Serving', props);
} else {
  const stack = new Stack(app, task.stackName, {
    description: `Apparate fleet serving task ${task.props.task}: variants ${task.props.variants.join(', ')}`,
  });
  new TaskServing(stack, 'Task', task.props);
}
Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
app.synth();
