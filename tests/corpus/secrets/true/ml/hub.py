HF_TOKEN = "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"
