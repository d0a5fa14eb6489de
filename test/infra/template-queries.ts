/**
 * Small readers over a synthesised template, so the tests can say "this role may do exactly these
 * actions on exactly these resources" instead of matching whole policy documents.
 */
import { Stack, type CfnElement } from 'aws-cdk-lib';
import type { Template } from 'aws-cdk-lib/assertions';
import type { IConstruct } from 'constructs';

type Json = unknown;

/** The logical id CloudFormation knows a construct's resource by. */
export function logicalId(construct: IConstruct): string {
  const resource = (construct.node.defaultChild ?? construct) as CfnElement;
  return Stack.of(construct).getLogicalId(resource);
}

/**
 * Names a policy resource readably: `Queue` for `{Fn::GetAtt: [Queue, Arn]}`, `Bucket/bundles/m/*`
 * for a join of the bucket ARN and a key pattern, `{AWS::Region}` for a `Ref`, and `asset:<key>`
 * for an object in the CDK asset bucket.
 */
function resourceName(resource: Json): string {
  if (typeof resource === 'string') return resource;
  const record = resource as Record<string, Json>;
  const getAtt = record['Fn::GetAtt'] as [string, string] | undefined;
  if (getAtt) return getAtt[0];
  if (typeof record['Ref'] === 'string') return `{${record['Ref']}}`;
  const join = record['Fn::Join'] as [string, Json[]] | undefined;
  if (join) {
    const parts = join[1].map((part) => resourceName(part));
    const text = parts.join('');
    return text.includes('cdk-hnb659fds-assets') ? `asset:${text.slice(text.lastIndexOf('/') + 1)}` : text;
  }
  if (typeof record['Fn::Sub'] === 'string') return record['Fn::Sub'];
  return JSON.stringify(resource);
}

/**
 * Every action the role's inline policies allow, keyed by resource: `{ Queue: ['sqs:SendMessage', ...] }`.
 * Actions are sorted and de-duplicated so tests compare sets.
 */
export function allowedActionsByResource(
  template: Template,
  roleLogicalId: string,
): Record<string, string[]> {
  const policies = template.findResources('AWS::IAM::Policy');
  const byResource: Record<string, Set<string>> = {};
  for (const policy of Object.values(policies)) {
    const properties = (policy as { Properties: Record<string, Json> }).Properties;
    const roles = (properties['Roles'] as Array<{ Ref: string }>).map((role) => role.Ref);
    if (!roles.includes(roleLogicalId)) continue;
    const statements = (properties['PolicyDocument'] as { Statement: Array<Record<string, Json>> }).Statement;
    for (const statement of statements) {
      if (statement['Effect'] !== 'Allow') continue;
      const actions = ([] as string[]).concat(statement['Action'] as string | string[]);
      const resources = ([] as Json[]).concat(statement['Resource']);
      for (const resource of resources) {
        const name = resourceName(resource);
        byResource[name] ??= new Set();
        for (const action of actions) byResource[name].add(action);
      }
    }
  }
  return Object.fromEntries(Object.entries(byResource).map(([name, actions]) => [name, [...actions].sort()]));
}

/** The text of a `Fn::Join` (or plain string), with tokens shown as `{Ref}`/`{GetAtt}` placeholders. */
export function joinedText(value: Json): string {
  if (typeof value === 'string') return value;
  const record = value as Record<string, Json>;
  if (record['Fn::Base64']) return joinedText(record['Fn::Base64']);
  const join = record['Fn::Join'] as [string, Json[]] | undefined;
  if (join) return join[1].map((part) => joinedText(part)).join(join[0]);
  if (typeof record['Ref'] === 'string') return `{${record['Ref']}}`;
  const getAtt = record['Fn::GetAtt'] as [string, string] | undefined;
  if (getAtt) return `{${getAtt.join('.')}}`;
  return JSON.stringify(value);
}

/** The single resource of a type whose logical id starts with `prefix`, or a clear failure. */
export function onlyResource(
  template: Template,
  type: string,
  prefix = '',
): { id: string; properties: Record<string, Json> } {
  const found = Object.entries(template.findResources(type)).filter(([id]) => id.startsWith(prefix));
  if (found.length !== 1) {
    throw new Error(
      `expected one ${type} starting with "${prefix}", found ${found.map(([id]) => id).join(', ') || 'none'}`,
    );
  }
  const [id, resource] = found[0] as [string, { Properties: Record<string, Json> }];
  return { id, properties: resource.Properties };
}
