#!/usr/bin/env python2
# -*- coding: utf-8 -*-
"""The book's chat server and client as it was printed for Python 2.7.

The first edition of Python Network Programming Cookbook (chapter 2, "Writing
a chat server using select.select") runs on Python 2.7 and pickles with
cPickle. This is that code with its typos fixed and nothing else: it speaks
in Python 2 byte strings (`str`), as a Python 2 program reading its
arguments and its standard input does, and it writes them with cPickle's
default protocol, 0. Its defects are kept on purpose (docs/ERRATA.md).

    PYENV_VERSION=2.7.18 python2 test/interop/chat_server_with_select_py2.py --name server --port 8800
    PYENV_VERSION=2.7.18 python2 test/interop/chat_server_with_select_py2.py --name alice --port 8800

Two things are added for testing, neither changes the protocol:
  --shape tuple|str  what is pickled: a 1-tuple holding the message, as the
                     book does (`cPickle.dumps(args)`, default), or the
                     message itself, as the seed's write-up has it
                     (`cPickle.dumps(*args)`).
  --protocol N       the pickle protocol (default 0, cPickle's default;
                     the book passes none).
and the server prints the port it really listens on, once it listens, so
that --port 0 works.
"""
import argparse
import cPickle
import select
import signal
import socket
import struct
import sys

SERVER_HOST = 'localhost'
PICKLE_SHAPE = 'tuple'
PICKLE_PROTOCOL = 0


def send(channel, *args):
    message = args if PICKLE_SHAPE == 'tuple' else args[0]
    buffer = cPickle.dumps(message, PICKLE_PROTOCOL)
    value = socket.htonl(len(buffer))
    size = struct.pack("L", value)
    channel.send(size)
    channel.send(buffer)


def receive(channel):
    size = struct.calcsize("L")
    size = channel.recv(size)
    try:
        size = socket.ntohl(struct.unpack("L", size)[0])
    except struct.error, e:
        return ''
    buf = ""
    while len(buf) < size:
        # As printed: this replaces buf instead of appending to it.
        buf = channel.recv(size - len(buf))
    message = cPickle.loads(buf)
    return message[0] if PICKLE_SHAPE == 'tuple' else message


class ChatServer(object):
    """ An example chat server using select """

    def __init__(self, port, backlog=5):
        self.clients = 0
        self.clientmap = {}
        self.outputs = []  # list output sockets
        self.server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.server.bind((SERVER_HOST, port))
        print 'Server listening to port: %s ...' % self.server.getsockname()[1]
        sys.stdout.flush()
        self.server.listen(backlog)
        # Catch keyboard interrupts
        signal.signal(signal.SIGINT, self.sighandler)

    def sighandler(self, signum, frame):
        """ Clean up client outputs"""
        # Close the server
        print 'Shutting down server...'
        # Close existing client sockets
        for output in self.outputs:
            output.close()
        self.server.close()

    def get_client_name(self, client):
        """ Return the name of the client """
        info = self.clientmap[client]
        host, name = info[0][0], info[1]
        return '@'.join((name, host))

    def run(self):
        inputs = [self.server, sys.stdin]
        self.outputs = []
        running = True
        while running:
            try:
                readable, writeable, exceptional = select.select(inputs, self.outputs, [])
            except select.error, e:
                break

            for sock in readable:
                if sock == self.server:
                    # handle the server socket
                    client, address = self.server.accept()
                    print "Chat server: got connection %d from %s" % (client.fileno(), address)
                    sys.stdout.flush()
                    # Read the login name
                    cname = receive(client).split('NAME: ')[1]

                    # Compute client name and send back
                    self.clients += 1
                    send(client, 'CLIENT: ' + str(address[0]))
                    inputs.append(client)
                    self.clientmap[client] = (address, cname)
                    # Send joining information to other clients
                    msg = "\n(Connected: New client (%d) from %s)" % (self.clients, self.get_client_name(client))
                    for output in self.outputs:
                        send(output, msg)
                    self.outputs.append(client)

                elif sock == sys.stdin:
                    # handle standard input
                    junk = sys.stdin.readline()
                    running = False
                else:
                    # handle all other sockets
                    try:
                        data = receive(sock)
                        if data:
                            # Send as new client's message...
                            msg = '\n#[' + self.get_client_name(sock) + ']>>' + data
                            # Send data to all except ourself
                            for output in self.outputs:
                                if output != sock:
                                    send(output, msg)
                        else:
                            print "Chat server: %d hung up" % sock.fileno()
                            sys.stdout.flush()
                            self.clients -= 1
                            sock.close()
                            inputs.remove(sock)
                            self.outputs.remove(sock)

                            # Sending client leaving information to others
                            msg = "\n(Now hung up: Client from %s)" % self.get_client_name(sock)
                            for output in self.outputs:
                                send(output, msg)
                    except socket.error, e:
                        # Remove
                        inputs.remove(sock)
                        self.outputs.remove(sock)
        self.server.close()


class ChatClient(object):
    """ A command line chat client using select """

    def __init__(self, name, port, host=SERVER_HOST):
        self.name = name
        self.connected = False
        self.host = host
        self.port = port
        # Initial prompt
        self.prompt = '[' + '@'.join((name, socket.gethostname().split('.')[0])) + ']> '
        # Connect to server at port
        try:
            self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            self.sock.connect((host, self.port))
            print "Now connected to chat server@ port %d" % self.port
            self.connected = True
            # Send my name...
            send(self.sock, 'NAME: ' + self.name)
            data = receive(self.sock)
            # Contains client address, set it
            addr = data.split('CLIENT: ')[1]
            self.prompt = '[' + '@'.join((self.name, addr)) + ']> '
        except socket.error, e:
            print "Failed to connect to chat server @ port %d" % self.port
            sys.exit(1)

    def run(self):
        """ Chat client main loop """
        while self.connected:
            try:
                sys.stdout.write(self.prompt)
                sys.stdout.flush()
                # Wait for input from stdin and socket
                readable, writeable, exceptional = select.select([0, self.sock], [], [])
                for sock in readable:
                    if sock == 0:
                        data = sys.stdin.readline().strip()
                        if data:
                            send(self.sock, data)
                    elif sock == self.sock:
                        data = receive(self.sock)
                        if not data:
                            print 'Client shutting down.'
                            self.connected = False
                            break
                        else:
                            sys.stdout.write(data + '\n')
                            sys.stdout.flush()

            except KeyboardInterrupt:
                print " Client interrupted. "
                self.sock.close()
                break


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description='Socket Server Example with Select')
    parser.add_argument('--name', action="store", dest="name", required=True)
    parser.add_argument('--port', action="store", dest="port", type=int, required=True)
    parser.add_argument('--shape', choices=['tuple', 'str'], default='tuple')
    parser.add_argument('--protocol', type=int, choices=[0, 1, 2], default=0)
    given_args = parser.parse_args()
    PICKLE_SHAPE = given_args.shape
    PICKLE_PROTOCOL = given_args.protocol
    port = given_args.port
    name = given_args.name
    if name == "server":
        server = ChatServer(port)
        server.run()
    else:
        client = ChatClient(name=name, port=port)
        client.run()
