/**
 * The CDK app (`cdk.json` runs it): one stack serving one model, checked by the cdk-nag
 * AwsSolutions rules on every synthesis. The stack is environment-agnostic, so `cdk synth` needs
 * no AWS credentials and no lookups; `cdk deploy` takes the account and region from the profile.
 */
import { App, Stack, Validations } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import { ApparateServing } from './apparate-serving';
import { settingsFromContext } from './app-context';

const app = new App();
const { stackName, props } = settingsFromContext(app);
const stack = new Stack(app, stackName, {
  description: `Apparate early-exit inference serving for model ${props.modelName}`,
});
new ApparateServing(stack, 'Serving', props);
Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
app.synth();
