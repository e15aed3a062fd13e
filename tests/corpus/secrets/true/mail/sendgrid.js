const sg = require('@sendgrid/mail');
sg.setApiKey('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');
