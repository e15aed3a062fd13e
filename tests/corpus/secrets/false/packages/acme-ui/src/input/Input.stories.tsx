export const Password = () => <Input type="password" defaultValue="hunter2" />;
