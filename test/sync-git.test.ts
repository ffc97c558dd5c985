import { execFileSync } from 'node:child_process'
import { cpSync, existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { Directory, type Store } from '../src/index.js'
import { ckpt } from './support/cli.js'
import { git, gitFsck } from './support/git.js'
import { failure } from './support/errors.js'
import { pseudoRandomBytes } from './support/random.js'
import { collect, tempDir, tempStore } from './support/temp.js'
import { encodeNode } from '../src/model/value.js'
import { compactJson, prettyJson } from '../src/sync/git/format.js'

const T0 = Date.UTC(2026, 0, 2, 3, 4, 5)

/**
 * main: JSON outputs (one with bytes inside), a 3 MiB blob stored as chunks, a directory output
 * with nested folders and names git claims for itself, stage names whose files collide, a tag,
 * and a second timeline forked and merged back.
 */
async function sourceStore(): Promise<Store> {
  const { store } = await tempStore({ author: 'Ada Lovelace <ada@example.com>' })
  let time = T0
  const at = () => (time += 60_000)
  await store.commit({ stage: 'detect', output: { objects: [{ label: 'cat', score: 0.9 }], note: 'first' }, run: 'r1', message: 'detect cats', time: at() })
  await store.commit({ stage: 'frames', output: pseudoRandomBytes(3 * 1024 * 1024, 7), run: 'r1', time: at() })
  await store.commit({
    stage: 'site',
    output: new Directory({
      'index.html': Buffer.from('<h1>hi</h1>\n'),
      'assets/app.js': Buffer.from('console.log(1)\n'),
      'assets/img/logo.svg': Buffer.from('<svg/>\n'),
      '.git': Buffer.from('not a git folder\n'),
      'sub/.GITMODULES': Buffer.from('[submodule]\n'),
    }),
    run: 'r1',
    time: at(),
  })
  await store.commit({ outputs: { x: { kind: 'json' }, 'x.json': Buffer.from('bytes named like json\n'), '.ckpt': Buffer.from('a stage named .ckpt\n') }, time: at() })
  await store.tags.create('v1')
  await store.timelines.create('tuning', 'main')
  await store.commit({ timeline: 'tuning', stage: 'detect', output: { objects: [{ label: 'cat', score: 0.95 }], note: 'tuned', thumb: Uint8Array.of(1, 2, 3) }, run: 'r2', time: at() })
  await store.commit({ stage: 'detect', output: { objects: [{ label: 'dog', score: 0.7 }], note: 'second' }, run: 'r3', time: at() })
  await store.commit({ parents: ['main', 'tuning'], stage: 'merge', output: { merged: true }, message: 'merge tuning\n\nwith a body line', time: at() })
  return store
}

async function ids(store: Store, timeline: string): Promise<string[]> {
  return (await collect(store.log(timeline))).map((c) => c.id)
}

describe('git mirror: export --git', () => {
  it('pretty-prints JSON so that removing the added whitespace gives the canonical bytes back', () => {
    const json = fc.jsonValue({ maxDepth: 6 }).map((v) => JSON.parse(JSON.stringify(v)) as unknown)
    fc.assert(
      fc.property(json, (value) => {
        const canonical = encodeNode(value)
        const pretty = prettyJson(canonical)
        expect(Buffer.from(compactJson(pretty)!).equals(Buffer.from(canonical))).toBe(true)
        expect(JSON.parse(Buffer.from(pretty).toString('utf8'))).toEqual(JSON.parse(Buffer.from(canonical).toString('utf8')))
      }),
      { numRuns: 500 },
    )
  })

  it('writes a repository real git accepts: fsck --strict is clean, log shows the history, diff shows changed stage files', async () => {
    const store = await sourceStore()
    const mirror = path.join(tempDir(), 'mirror')
    const result = await store.exportGit(mirror)
    expect(result.written).toBe((await ids(store, 'main')).length)
    expect(result.branches.map((b) => b.name).sort()).toEqual(['main', 'tuning'])
    expect(result.tags.map((t) => t.name)).toEqual(['v1'])

    expect(gitFsck(mirror)).toEqual({ code: 0, output: '' })
    expect(git(mirror, ['symbolic-ref', 'HEAD']).trim()).toBe('refs/heads/main')

    const log = git(mirror, ['log', '--format=%H|%an|%ae|%at|%P|%s', 'main']).trim().split('\n')
    const history = await collect(store.log('main'))
    expect(log).toHaveLength(history.length)
    for (const [i, line] of log.entries()) {
      const [commit, name, email, seconds, parents, subject] = line.split('|')
      const checkpoint = history[i]!
      expect(commit).toBe(result.branches.find((b) => b.checkpoint === checkpoint.id)?.commit ?? commit)
      expect([name, email]).toEqual(['Ada Lovelace', 'ada@example.com'])
      expect(Number(seconds)).toBe(Math.floor(checkpoint.time.getTime() / 1000))
      expect(parents!.split(' ').filter(Boolean)).toHaveLength(checkpoint.parents.length)
      expect(subject).toBe(checkpoint.message !== '' ? checkpoint.message.split('\n')[0] : checkpoint.stage ? `stage ${checkpoint.stage}` : 'checkpoint')
      const body = git(mirror, ['show', '-s', '--format=%B', commit!])
      expect(body).toContain(`Checkpoint: ${checkpoint.id}`)
      if (checkpoint.stage) expect(body).toContain(`Stage: ${checkpoint.stage}`)
      if (checkpoint.run) expect(body).toContain(`Run: ${checkpoint.run}`)
    }

    // One entry per stage: JSON pretty-printed, bytes as files, directories as folders.
    const tree = git(mirror, ['ls-tree', '-r', '--name-only', 'main']).trim().split('\n')
    expect(tree).toEqual(
      expect.arrayContaining(['detect.json', 'frames', 'merge.json', 'x.json', 'x.json~2', '.ckpt~2', 'site/index.html', 'site/assets/app.js', 'site/assets/img/logo.svg', 'site/.git~ckpt', 'site/sub/.GITMODULES~ckpt', '.ckpt/checkpoint']),
    )
    expect(git(mirror, ['show', 'main:detect.json'])).toBe(JSON.stringify({ note: 'second', objects: [{ label: 'dog', score: 0.7 }] }, null, 2) + '\n')
    expect(Buffer.compare(execFileSync('git', ['show', 'main:frames'], { cwd: mirror, maxBuffer: 8 << 20 }), Buffer.from(await store.getBlob('main:frames')))).toBe(0)
    expect(git(mirror, ['show', 'main:site/assets/app.js'])).toBe('console.log(1)\n')

    const diff = git(mirror, ['diff', 'v1', 'main', '--stat']).trim()
    expect(diff).toMatch(/detect\.json/)
    expect(diff).toMatch(/merge\.json/)
    expect(diff).not.toMatch(/frames|site\//)
    const detect = git(mirror, ['diff', 'v1', 'main', '--', 'detect.json'])
    expect(detect).toContain('\n-      "label": "cat",\n')
    expect(detect).toContain('\n+      "label": "dog",\n')
    expect(git(mirror, ['rev-parse', 'v1']).trim()).toBe(result.tags[0]?.commit)
  })

  it('is incremental and stable: a rerun writes nothing, a new checkpoint one commit, and another mirror gets the same commit ids', async () => {
    const store = await sourceStore()
    const first = path.join(tempDir(), 'a')
    const second = tempDir() // an existing empty folder becomes the repository
    await store.exportGit(first)
    expect((await store.exportGit(first)).written).toBe(0)
    await store.commit({ stage: 'detect', output: { objects: [], note: 'third' }, time: T0 + 3_600_000 })
    const again = await store.exportGit(first, { timelines: ['main'] })
    expect(again.written).toBe(1)
    expect(again.tags.map((t) => t.name)).toEqual(['v1'])
    expect(gitFsck(first).code).toBe(0)
    await store.exportGit(second)
    expect(git(first, ['rev-parse', 'main', 'tuning', 'v1'])).toBe(git(second, ['rev-parse', 'main', 'tuning', 'v1']))
    expect(git(first, ['log', '--oneline', 'main~1..main']).trim().split('\n')).toHaveLength(1)
  })

  it('refuses a folder that is neither a repository nor empty, an unknown timeline, and timelines git cannot hold together, writing nothing', async () => {
    const store = await sourceStore()
    const dir = tempDir()
    writeFileSync(path.join(dir, 'notes.txt'), 'mine')
    expect((await failure(store.exportGit(dir))).code).toBe('INVALID_ARGUMENT')
    const mirror = path.join(tempDir(), 'm')
    expect((await failure(store.exportGit(mirror, { timelines: ['nope'] }))).code).toBe('NOT_FOUND')
    // git keeps refs as files and folders: "exp" and "exp/a" cannot both be branches.
    await store.timelines.create('exp', 'main')
    await store.timelines.create('exp/a', 'main')
    const clash = await failure(store.exportGit(mirror))
    expect(clash.code).toBe('INVALID_ARGUMENT')
    expect(clash.message).toContain('"exp" and "exp/a"')
    expect(existsSync(mirror)).toBe(false)
    expect((await store.exportGit(mirror, { timelines: ['main', 'exp/a'] })).branches.map((b) => b.name)).toEqual(['main', 'exp/a'])
  })
})

describe('git mirror: import --git', () => {
  it('round-trips every timeline into an empty store with identical checkpoint ids, history and outputs', async () => {
    const source = await sourceStore()
    const mirror = path.join(tempDir(), 'mirror')
    await source.exportGit(mirror)
    const { store: target } = await tempStore()
    const main = await target.importGit(mirror, 'main')
    expect(main).toMatchObject({ timeline: 'main', head: await source.timelines.get('main'), action: 'created', commits: (await ids(source, 'main')).length })
    // main merged tuning, so main's import brought tuning's whole history: nothing more to read.
    expect(await target.importGit(mirror, 'tuning')).toMatchObject({ commits: 0, written: 0, action: 'created' })
    expect(await collect(target.log('main'))).toEqual(await collect(source.log('main')))
    expect(await ids(target, 'tuning')).toEqual(await ids(source, 'tuning'))
    expect((await collect(target.objects())).map((o) => o.id).sort()).toEqual((await collect(source.objects())).map((o) => o.id).sort())
    expect(Buffer.compare(Buffer.from(await target.getBlob('main:frames')), Buffer.from(await source.getBlob('main:frames')))).toBe(0)
    expect(await target.getOutput('tuning:detect')).toEqual(await source.getOutput('tuning:detect'))
    expect((await target.fsck()).problems).toEqual([])
  })

  it('reads and extends mirrors whose objects git has packed: after `git gc`, and a clone from a server', async () => {
    const source = await sourceStore()
    const mirror = path.join(tempDir(), 'mirror')
    await source.exportGit(mirror)
    git(mirror, ['gc', '-q', '--prune=now'])
    expect(git(mirror, ['count-objects', '-v'])).toMatch(/^count: 0$/m)
    expect((await source.exportGit(mirror)).written).toBe(0)
    await source.commit({ stage: 'detect', output: { packed: true }, time: T0 + 7_200_000 })
    expect((await source.exportGit(mirror)).written).toBe(1)
    expect(gitFsck(mirror).code).toBe(0)

    const clone = path.join(tempDir(), 'clone')
    git(path.dirname(clone), ['clone', '-q', '--mirror', mirror, clone])
    const { store: target } = await tempStore()
    await target.importGit(clone, 'main')
    expect(await collect(target.log('main'))).toEqual(await collect(source.log('main')))
    expect((await target.fsck()).problems).toEqual([])
  })

  it('fast-forwards on a rerun, and needs force for a timeline that went elsewhere', async () => {
    const source = await sourceStore()
    const mirror = path.join(tempDir(), 'mirror')
    await source.exportGit(mirror)
    const { store: target } = await tempStore()
    await target.importGit(mirror, 'main', { timeline: 'copy' })
    expect((await target.importGit(mirror, 'main', { timeline: 'copy' })).action).toBe('unchanged')
    await source.commit({ stage: 'detect', output: { more: 1 }, time: T0 + 9_000_000 })
    await source.exportGit(mirror)
    const forward = await target.importGit(mirror, 'main', { timeline: 'copy' })
    expect(forward).toMatchObject({ action: 'fast-forward', commits: 1 })
    const conflict = await failure(target.importGit(mirror, 'tuning', { timeline: 'copy' }))
    expect(conflict.code).toBe('REF_CONFLICT')
    expect(await target.timelines.get('copy')).toBe(await source.timelines.get('main'))
    expect((await target.importGit(mirror, 'tuning', { timeline: 'copy', force: true })).action).toBe('forced')
  })

  it('keeps a retention cut: the mirror starts at the cut, and the import records it', async () => {
    const { store } = await tempStore()
    for (let i = 0; i < 5; i++) await store.commit({ stage: 's', output: { i }, time: T0 + i * 1000 })
    await store.retention.set('main', { keepLast: 2 })
    await store.gc({ prune: 'now' })
    const mirror = path.join(tempDir(), 'mirror')
    await store.exportGit(mirror)
    expect(git(mirror, ['rev-list', '--count', 'main']).trim()).toBe('2')
    expect(gitFsck(mirror).code).toBe(0)
    const { store: target } = await tempStore()
    await target.importGit(mirror, 'main')
    const log = await collect(target.log('main'))
    expect(log.map((c) => c.id)).toEqual(await ids(store, 'main'))
    expect(log.at(-1)?.historyCut).toBe(true)
    expect((await target.fsck()).problems).toEqual([])
  })

  it('refuses edited history, hand-made commits and foreign repositories, moving no timeline', async () => {
    const source = await sourceStore()
    const mirror = path.join(tempDir(), 'mirror')
    await source.exportGit(mirror)
    const work = path.join(tempDir(), 'work')
    git(path.dirname(work), ['clone', '-q', mirror, work])

    // A stage file changed in place (the commit amended): its checkpoint's output is gone.
    writeFileSync(path.join(work, 'merge.json'), '{"merged": false}\n')
    git(work, ['commit', '-q', '-a', '--amend', '--no-edit'])
    git(work, ['push', '-q', '-f', 'origin', 'HEAD:refs/heads/edited'])
    // A commit added by hand on top: it records no checkpoint of its own.
    git(work, ['reset', '-q', '--hard', 'origin/main'])
    writeFileSync(path.join(work, 'README'), 'notes\n')
    git(work, ['add', 'README'])
    git(work, ['commit', '-q', '-m', 'notes'])
    git(work, ['push', '-q', 'origin', 'HEAD:refs/heads/handmade'])
    // A repository ckpt did not write.
    const foreign = path.join(tempDir(), 'foreign')
    git(path.dirname(foreign), ['init', '-q', foreign])
    writeFileSync(path.join(foreign, 'a.txt'), 'a\n')
    git(foreign, ['add', 'a.txt'])
    git(foreign, ['commit', '-q', '-m', 'a'])

    // A damaged copy: one file's object deleted.
    const damaged = path.join(tempDir(), 'damaged')
    cpSync(mirror, damaged, { recursive: true })
    const lost = git(damaged, ['rev-parse', 'main:merge.json']).trim()
    rmSync(path.join(damaged, 'objects', lost.slice(0, 2), lost.slice(2)))

    const { store: target } = await tempStore()
    const broken = await failure(target.importGit(damaged, 'main'))
    expect(broken.code).toBe('CORRUPT_OBJECT')
    expect(broken.message).toContain(`the mirror's blob ${lost} cannot be read`)
    const edited = await failure(target.importGit(mirror, 'edited'))
    expect(edited.code).toBe('CORRUPT_OBJECT')
    expect(edited.message).toMatch(/lacks object .* \(was a file edited\?\)/)
    expect((await failure(target.importGit(mirror, 'handmade'))).code).toBe('INVALID_ARGUMENT')
    expect((await failure(target.importGit(foreign, 'HEAD', { timeline: 'f' }))).code).toBe('INVALID_ARGUMENT')
    expect((await failure(target.importGit(mirror, 'nope'))).code).toBe('NOT_FOUND')
    expect((await failure(target.importGit(tempDir(), 'main'))).code).toBe('NOT_FOUND')
    expect(await target.timelines.list()).toEqual([])
  })
})

describe('git mirror: the ckpt command', () => {
  it('export --git and import --git round-trip between two stores, with --json and clean fsck', () => {
    const root = tempDir()
    const a = path.join(root, 'a')
    const b = path.join(root, 'b')
    for (const dir of [a, b]) expect(ckpt(root, ['init', dir]).code).toBe(0)
    writeFileSync(path.join(root, 'out.json'), '{"score": 1}')
    expect(ckpt(a, ['commit', '--stage', 'score', '--file', path.join(root, 'out.json'), '-m', 'first']).code).toBe(0)
    writeFileSync(path.join(root, 'out.json'), '{"score": 2}')
    expect(ckpt(a, ['commit', '--stage', 'score', '--file', path.join(root, 'out.json'), '-m', 'second']).code).toBe(0)
    const mirror = path.join(root, 'mirror.git')
    const exported = ckpt(a, ['export', '--git', mirror, '--json'])
    expect(exported.stderr).toBe('')
    expect(JSON.parse(exported.stdout)).toMatchObject({ written: 2, branches: [{ name: 'main' }] })
    expect(ckpt(a, ['export', '--git', mirror]).stdout).toMatch(/0 new commits/)
    expect(gitFsck(mirror).code).toBe(0)
    expect(git(mirror, ['log', '--format=%s', 'main']).trim().split('\n')).toEqual(['second', 'first'])
    // Pushed to a git server (a bare repository here) and cloned from there like any repository.
    const server = path.join(root, 'server.git')
    git(root, ['init', '-q', '--bare', server])
    git(mirror, ['push', '-q', server, '--all'])
    expect(git(server, ['rev-parse', 'main'])).toBe(git(mirror, ['rev-parse', 'main']))
    git(root, ['clone', '-q', '-b', 'main', server, path.join(root, 'clone')])
    expect(JSON.parse(readFileSync(path.join(root, 'clone', 'score.json'), 'utf8'))).toEqual({ score: 2 })

    // Read back from the clone: a work tree, with its repository in .git/.
    const imported = ckpt(b, ['import', '--git', path.join(root, 'clone'), 'main', '--json'])
    expect(imported.code).toBe(0)
    expect(JSON.parse(imported.stdout)).toMatchObject({ timeline: 'main', commits: 2, action: 'created' })
    expect(ckpt(b, ['log', '--json']).stdout).toBe(ckpt(a, ['log', '--json']).stdout)
    expect(ckpt(b, ['fsck', '--json']).code).toBe(0)

    const missing = ckpt(b, ['import', '--git', mirror, 'nope'])
    expect(missing.code).not.toBe(0)
    expect(missing.stderr).toMatch(/no branch or commit "nope"/)
    // Usage errors exit 2 with a message, not as internal errors.
    for (const args of [['export'], ['export', 'main'], ['export', '-o', 'x.car', '--git', mirror], ['import', '--git', mirror], ['import', 'a.car', 'main']]) {
      const usage = ckpt(a, args)
      expect(usage.code, args.join(' ')).toBe(2)
      expect(usage.stderr).toMatch(/^ckpt: error: (give one of|name the|with --git|unexpected argument)/)
    }
    expect(readFileSync(path.join(mirror, 'HEAD'), 'utf8')).toBe('ref: refs/heads/main\n')
  })
})
