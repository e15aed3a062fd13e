const sessionSecret = environmentService.get('APP_SECRET');
app.use(
  session({
    secret: sessionSecret,
    resave: false,
    saveUninitialized: false,
  }),
);
