const client = new Anthropic({ apiKey: 'sk-ant-api03-gtCDf2gNXuuIY8cg74Uns9BLT6bXn9ftBxLGSmZwDgL5ALznpB_fHXgCYmSzjDAwi-fELz2KGer5OxYPry7w_p4VmSQO-AA' });
