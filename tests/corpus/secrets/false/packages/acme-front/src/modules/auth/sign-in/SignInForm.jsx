import { useState } from 'react';
import { useForm } from 'react-hook-form';

import { TextInput } from '@/ui/input/TextInput';
import { Button } from '@/ui/button/Button';

export const SignInForm = ({ onSubmit, workspaceInviteToken }) => {
  const [showPassword, setShowPassword] = useState(false);
  const { register, handleSubmit, formState } = useForm({
    defaultValues: { email: '', password: '' },
  });

  return (
    <form onSubmit={handleSubmit(onSubmit)}>
      <TextInput {...register('email')} type="email" autoComplete="username" label="Email" />
      <TextInput
        {...register('password', { required: true, minLength: 8 })}
        type={showPassword ? 'text' : 'password'}
        autoComplete="current-password"
        label="Password"
        password="true"
        secret={!showPassword}
      />
      <input type="hidden" name="token" value={workspaceInviteToken} />
      <button type="button" data-password="visible" onClick={() => setShowPassword((v) => !v)}>
        {showPassword ? 'Hide' : 'Show'}
      </button>
      <Button type="submit" disabled={formState.isSubmitting} title="Continue" />
    </form>
  );
};
