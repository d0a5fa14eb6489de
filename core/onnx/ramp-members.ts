/**
 * The ramp family: how a ramp pools an activation before its linear layer. Which member works best
 * differs per position (coarse pooling throws away the spatial layout early layers still rely on),
 * so preparation tries several; the string keys name them in bundles, feature outputs and reports.
 */
import { InputError } from '../errors';
import type { Dimension } from './tensor-types';

/** Adaptive average pooling of [B,C,H,W] to a grid×grid layout, flattened channel-major. */
export type ImageMember = { readonly type: 'image'; readonly pool: 'avg'; readonly grid: 1 | 2 | 4 };
/** Token pooling of [B,T,H]: token 0, the masked mean, or both concatenated. */
export type SequenceMember = { readonly type: 'sequence'; readonly pool: 'first' | 'mean' | 'first+mean' };
/** One way of pooling: adaptive average pooling to a grid (images), or token pooling (sequences). */
export type RampMember = ImageMember | SequenceMember;

/** How members are named in bundles, feature outputs and reports. */
export type MemberKey = 'avg1' | 'avg2' | 'avg4' | 'first' | 'mean' | 'first+mean';

/** Every member, by kind of activation, in order of increasing feature size. */
export const IMAGE_MEMBERS: readonly ImageMember[] = [
  { type: 'image', pool: 'avg', grid: 1 },
  { type: 'image', pool: 'avg', grid: 2 },
  { type: 'image', pool: 'avg', grid: 4 },
];
/** Sequence members, in order of increasing feature size. */
export const SEQUENCE_MEMBERS: readonly SequenceMember[] = [
  { type: 'sequence', pool: 'first' },
  { type: 'sequence', pool: 'mean' },
  { type: 'sequence', pool: 'first+mean' },
];

/** The member's key, e.g. `avg4` or `first+mean`. */
export function memberKey(member: RampMember): MemberKey {
  return member.type === 'image' ? (`avg${member.grid}` as MemberKey) : member.pool;
}

/** The member a key names; refuses unknown keys with the list of known ones. */
export function parseMemberKey(key: string): RampMember {
  const member = [...IMAGE_MEMBERS, ...SEQUENCE_MEMBERS].find((candidate) => memberKey(candidate) === key);
  if (!member) {
    const known = [...IMAGE_MEMBERS, ...SEQUENCE_MEMBERS].map(memberKey).join(', ');
    throw new InputError(`unknown ramp member ${key}; known members are ${known}`);
  }
  return member;
}

/** Whether the member averages over tokens, and so reads the attention mask when there is one. */
export function poolsMean(member: RampMember): boolean {
  return member.type === 'sequence' && member.pool !== 'first';
}

/**
 * Checks that the member fits the activation (image members need [batch,C,H,W], sequence members
 * [batch,T,H], fixed sizes after the batch) and returns the sizes after the batch.
 */
export function memberDims(member: RampMember, shape: readonly Dimension[]): number[] {
  const rank = member.type === 'image' ? 4 : 3;
  const layout = member.type === 'image' ? '[batch,C,H,W]' : '[batch,T,H]';
  const dims = shape.slice(1);
  if (shape.length !== rank || dims.some((dim) => typeof dim !== 'number')) {
    throw new InputError(
      `ramp member ${memberKey(member)} pools ${member.type} activations ${layout} with fixed sizes after the batch; this activation has shape [${shape.join(',')}]`,
    );
  }
  return dims as number[];
}

/** Length of the feature vector the member produces from an activation of this shape. */
export function featureSize(member: RampMember, activationShape: readonly Dimension[]): number {
  const dims = memberDims(member, activationShape);
  if (member.type === 'image') return (dims[0] as number) * member.grid * member.grid;
  return (dims[1] as number) * (member.pool === 'first+mean' ? 2 : 1);
}
