"""A client for `ckpt serve`, in standard-library Python only (urllib, json).

    from ckpt_client import Ckpt
    store = Ckpt("http://127.0.0.1:7433", token=os.environ.get("CKPT_TOKEN"))
    for checkpoint in store.log(job="video-17"):
        print(checkpoint["shortId"], checkpoint.get("stage"), checkpoint["message"])

Every method maps to one endpoint of docs/server.md. Errors raise CkptError with the server's
stable `code` (NOT_FOUND, REF_CONFLICT, ...) and the HTTP status.
"""

import json
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid


class CkptError(Exception):
    """An error answered by the server: `code` is stable, `status` is the HTTP status."""

    def __init__(self, status, code, message):
        super().__init__(f"{code} ({status}): {message}")
        self.status = status
        self.code = code
        self.message = message


class Ckpt:
    """One ckpt server. `token` is sent on every request when given (writes need it)."""

    def __init__(self, url, token=None, timeout=60):
        self.url = url.rstrip("/")
        self.token = token
        self.timeout = timeout

    # -- plumbing ---------------------------------------------------------------------------

    def _request(self, method, path, query=None, body=None, content_type=None, raw=False, headers=None):
        url = self.url + path
        if query:
            pairs = []
            for key, value in query.items():
                if value is None:
                    continue
                for item in value if isinstance(value, (list, tuple)) else [value]:
                    pairs.append((key, str(item).lower() if isinstance(item, bool) else str(item)))
            url += "?" + urllib.parse.urlencode(pairs)
        data = None
        all_headers = dict(headers or {})
        if body is not None and content_type is None:
            data = json.dumps(body).encode("utf-8")
            all_headers["Content-Type"] = "application/json"
        elif body is not None:
            data = body
            all_headers["Content-Type"] = content_type
        if self.token:
            all_headers["Authorization"] = "Bearer " + self.token
        request = urllib.request.Request(url, data=data, method=method, headers=all_headers)
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                payload = response.read()
                if raw:
                    return payload, response.headers
                if not payload:
                    return None
                return json.loads(payload)
        except urllib.error.HTTPError as err:
            text = err.read().decode("utf-8", "replace")
            try:
                problem = json.loads(text)
                raise CkptError(err.code, problem.get("code", "UNKNOWN"), problem.get("message", text)) from None
            except ValueError:
                raise CkptError(err.code, "UNKNOWN", text) from None

    @staticmethod
    def _segment(name):
        return urllib.parse.quote(name, safe="")

    # -- reads -------------------------------------------------------------------------------

    def status(self):
        return self._request("GET", "/api/status")

    def timelines(self):
        return self._request("GET", "/api/timelines")

    def log(self, rev=None, job=None, run=None, stage=None, since=None, all=False, page_size=50):
        """Every checkpoint the filters keep, newest first, following the server's page cursors."""
        query = {"rev": rev, "job": job, "run": run, "stage": stage, "since": since, "limit": page_size}
        if all:
            query["all"] = True
        while True:
            page = self._request("GET", "/api/log", query)
            yield from page["checkpoints"]
            if page["next"] is None:
                return
            query = {"cursor": page["next"], "job": job, "run": run, "stage": stage, "since": since, "limit": page_size}

    def checkpoint(self, rev):
        return self._request("GET", "/api/checkpoints/" + self._segment(rev))

    def output(self, rev, stage):
        """A stage's output: the JSON value for a JSON output, bytes for bytes."""
        payload, headers = self._request("GET", f"/api/checkpoints/{self._segment(rev)}/outputs/{self._segment(stage)}", raw=True)
        if headers.get("Content-Type", "").startswith("application/json"):
            return json.loads(payload)
        return payload

    def diff(self, a, b, stages=None):
        return self._request("GET", "/api/diff", {"from": a, "to": b, "stage": stages})

    def runs(self, job=None, status=None, timeline=None):
        return self._request("GET", "/api/runs", {"job": job, "status": status, "timeline": timeline})

    def audit(self, run_id):
        return self._request("GET", f"/api/runs/{self._segment(run_id)}/audit")

    def pipelines(self):
        return self._request("GET", "/api/pipelines")

    # -- writes ------------------------------------------------------------------------------

    def replay(self, pipeline, stage, config=None, timeline=None, run=None, source=None, job=None):
        """Re-runs `pipeline` from `stage` with config overrides; waits, and answers {runId, counts, ...}."""
        body = {"stage": stage, "config": config, "timeline": timeline, "run": run, "from": source, "jobId": job}
        return self._request("POST", f"/api/pipelines/{self._segment(pipeline)}/replay", body={k: v for k, v in body.items() if v is not None})

    def resume(self, run_id, pipeline=None):
        return self._request("POST", f"/api/runs/{self._segment(run_id)}/resume", body={"pipeline": pipeline} if pipeline else {})

    def commit(self, outputs=None, files=None, **fields):
        """Records a checkpoint. `outputs`: stage -> JSON value; `files`: stage -> (file name, bytes),
        sent as multipart. Other fields as the API names them: stage, message, timeline, runId,
        jobId, config, meta, expectedHead."""
        meta = dict(fields)
        if outputs:
            meta["outputs"] = outputs
        if not files:
            return self._request("POST", "/api/commit", body=meta)
        boundary = "ckpt-" + uuid.uuid4().hex
        parts = [f'--{boundary}\r\nContent-Disposition: form-data; name="meta"\r\n\r\n'.encode() + json.dumps(meta).encode() + b"\r\n"]
        for stage, (file_name, data) in files.items():
            head = f'--{boundary}\r\nContent-Disposition: form-data; name="{stage}"; filename="{file_name}"\r\nContent-Type: application/octet-stream\r\n\r\n'
            parts.append(head.encode() + data + b"\r\n")
        body = b"".join(parts) + f"--{boundary}--\r\n".encode()
        return self._request("POST", "/api/commit", body=body, content_type="multipart/form-data; boundary=" + boundary)

    def queue(self, pipeline, action="replay", delay_seconds=0, **fields):
        """Queues a replay (stage=, config=, run=, timeline=) or a resume (runId=), run once after the delay."""
        body = {"action": action, "pipeline": pipeline, "delaySeconds": delay_seconds, **fields}
        return self._request("POST", "/api/tasks", body=body)

    def task(self, task_id):
        return self._request("GET", "/api/tasks/" + self._segment(task_id))

    def cancel(self, task_id):
        return self._request("DELETE", "/api/tasks/" + self._segment(task_id))

    def wait(self, task_id, timeout=120, every=0.25):
        """Polls a task until it has ended; answers the task."""
        deadline = time.monotonic() + timeout
        while True:
            task = self.task(task_id)
            if task["state"] in ("succeeded", "failed", "cancelled", "interrupted"):
                return task
            if time.monotonic() > deadline:
                raise TimeoutError(f"task {task_id} still {task['state']} after {timeout} s")
            time.sleep(every)
