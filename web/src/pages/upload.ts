/**
 * A file upload with progress: `PUT /api/<resource>/<id>/file` by XMLHttpRequest, the one
 * browser API that reports upload progress (fetch does not). @see PROTOCOL.md §1
 */
import { bearer } from '../session.js';

export interface UploadProgress {
  loaded: number;
  total: number;
}

/** Resolves with the updated record (the hub's 200 body); rejects with the hub's error message. */
export function uploadFile<R>(resource: 'firmware_updates' | 'plugin_packages', publicId: string, file: Blob, onProgress: (p: UploadProgress) => void): Promise<R> {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open('PUT', `/api/${resource}/${encodeURIComponent(publicId)}/file`);
    xhr.setRequestHeader('authorization', `Bearer ${bearer()}`);
    xhr.setRequestHeader('content-type', 'application/octet-stream');
    xhr.responseType = 'json';
    xhr.upload.onprogress = (e) => onProgress({ loaded: e.loaded, total: e.lengthComputable ? e.total : file.size });
    xhr.onload = () => {
      const body = xhr.response as { error?: { message: string } } | null;
      if (xhr.status === 200) {
        onProgress({ loaded: file.size, total: file.size });
        resolve(body as R);
      } else reject(new Error(body?.error?.message ?? `upload failed (${xhr.status})`));
    };
    xhr.onerror = () => reject(new Error('upload failed: the connection broke'));
    xhr.onabort = () => reject(new Error('upload cancelled'));
    xhr.send(file);
  });
}
