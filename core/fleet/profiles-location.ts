/**
 * Where the committed fleet profiles live (`zoo/profiles/<task>.json`, one per data set the
 * variants share) and how to read one. They sit beside the models they describe, because they are
 * measurements of those models; the planner and the simulator read them instead of the models.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { InputError } from '../errors';
import { ZOO_DIR } from '../zoo/fixtures';
import { parseTaskProfiles, type TaskProfiles } from './variant-profile';

export const FLEET_PROFILES_DIR = join(ZOO_DIR, 'profiles');

/** The task's profiles, validated; undefined when none were measured. */
export async function readTaskProfilesIfAny(task: string): Promise<TaskProfiles | undefined> {
  let text: string;
  try {
    text = await readFile(join(FLEET_PROFILES_DIR, `${task}.json`), 'utf8');
  } catch (cause) {
    if ((cause as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw cause;
  }
  return parseTaskProfiles(JSON.parse(text));
}

/** The task's profiles; an InputError saying how to measure them when there are none. */
export async function readTaskProfiles(task: string): Promise<TaskProfiles> {
  const profiles = await readTaskProfilesIfAny(task);
  if (!profiles)
    throw new InputError(
      `no fleet profiles for task ${task} in ${FLEET_PROFILES_DIR}; measure them with: npm run bench -- fleet-profile --task ${task}`,
    );
  return profiles;
}

/** Profiles from a file given by path (a profile measured beside the committed one, say). */
export async function readProfilesFile(path: string): Promise<TaskProfiles> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (cause) {
    throw new InputError(`cannot read fleet profiles from ${path}: ${(cause as Error).message}`, { cause });
  }
  return parseTaskProfiles(JSON.parse(text));
}
