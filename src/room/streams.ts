// Stopping and starting Node's reads on a stream, at the handle.
//
// `stream.pause()` only stops the 'data' events: Node goes on reading into
// the stream's own buffer until that is full. For a socket that means one
// more read of up to 64 KiB the program did not ask for; for a terminal it
// means a read(2) at all, which from a background job gets the whole
// process stopped (SIGTTIN). Stopping the handle, as Node itself does for a
// server created with `pauseOnConnect`, leaves the bytes in the kernel.

/** The libuv handle under a net.Socket or tty.ReadStream, as far as reading goes. */
interface StreamHandle {
  reading: boolean;
  readStart(): number;
  readStop(): number;
}

type HandleStream = NodeJS.ReadableStream & { connecting?: boolean };

function handleOf(stream: HandleStream): StreamHandle | undefined {
  const handle = (stream as unknown as { _handle?: Partial<StreamHandle> | null })._handle;
  return typeof handle?.readStart === 'function' && typeof handle.readStop === 'function' ? (handle as StreamHandle) : undefined;
}

/** Stops Node reading from the stream at once. */
export function stopReadingNow(stream: HandleStream): void {
  stream.pause();
  const handle = handleOf(stream);
  if (handle?.reading) {
    handle.reading = false;
    handle.readStop();
  }
}

/** Starts reading again: the stream flows, and the handle reads (the
 * stream would not ask it to, as it still waits for the read it asked for
 * before the handle was stopped). */
export function startReadingNow(stream: HandleStream): void {
  stream.resume();
  const handle = handleOf(stream);
  if (handle !== undefined && !handle.reading && !stream.connecting) {
    handle.reading = true;
    handle.readStart();
  }
}
